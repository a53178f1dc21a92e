//! [`LoadBalancedConnection`]: one logical connection over several hosts.
//!
//! The handle holds at most one physical `mysql_async::Conn` per host (as Connector/J's
//! load-balanced proxy keeps its live connections), one of which is *current*. Statements go
//! to the current one. The handle moves to another host:
//! - after `COMMIT` / `ROLLBACK`, and in autocommit every `autocommit_threshold` statements
//!   (the strategy picks again; a connection kept for the picked host is reused);
//! - when the exception checker blames an error on the host (the host is blacklisted);
//! - when the connection died (idle past `wait_timeout`, `KILL CONNECTION`).
//!
//! It does not move on its own while a transaction is open, while statements prepared through
//! it are open, or while the session holds state that cannot move (a temporary table, a user
//! variable, a lock): then it stays until the state is gone or a failure forces it.
//!
//! What the caller hears when a connection is lost is decided in one place, `loss.rs`, for
//! every path that can lose one (a failed statement, a failed idle ping, a connection the
//! server closed, a cancelled operation, a failed streaming result, a pool's host removed):
//! - inside a transaction: [`Error::TransactionLost`] (nothing of it committed, nothing is
//!   replayed), or [`Error::CommitUnknown`] when the `COMMIT` itself was sent;
//! - in a pinned session: [`Error::SessionLost`];
//! - a plain read in autocommit (`SELECT`, `SHOW`, …) run through a collecting method
//!   (`query`, `query_first`, `query_drop`): run once more on another host, transparently;
//! - anything else: [`Error::WriteNotRetried`] (the write may or may not have happened).
//!
//! A loss found between statements is reported to the next statement, which is then not
//! sent; the one after it runs on a new connection.
//!
//! `query_iter`/`exec_iter` hand rows over as they arrive, and `query_map`/`query_fold` pass
//! them to the caller's closure, so those are never retried; the failure is reported and the
//! next statement runs on a healthy host. Prepared statements (`exec_*`) are never retried:
//! their text cannot be read back from `mysql_async`.
//!
//! Every network step is bounded: connects by `connect_timeout`, pings by `ping_timeout`,
//! statements by `socket_timeout` when set. A connection whose operation timed out or was
//! cancelled (its future dropped) is discarded, never reused: mysql_async could hand the old
//! statement's result to the next one.

pub(crate) mod classify;
mod hedged;
mod lexer;
mod loss;
mod pooled;
mod queryable;
pub(crate) mod session;
mod source;

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use mysql_async::consts::StatusFlags;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, IsolationLevel, Statement, TxOpts};
use tokio::time::{Instant, timeout};

use self::classify::{Class, Kind};
use self::loss::{Stmt, Verdict, When};
pub(crate) use self::session::SessionState;
pub(crate) use self::source::{Checked, Lease, Source};
use crate::balancer::{Balancer, HostDown};
use crate::blacklist::Blacklist;
use crate::error::{Error, is_rolled_back};
use crate::opts::{HostAddr, LbOpts};
use crate::stats::{HostStats, InFlight};

type MyResult<T> = mysql_async::Result<T>;

/// The longest statement text a handle remembers the class of (one buffer per handle).
const CLASS_CACHE_MAX: usize = 4096;

/// One physical connection and what the handle knows of it.
struct Physical {
    conn: Conn,
    last_used: Instant,
    applied: SessionState,
    /// Ids of statements prepared through the handle on this connection and not closed.
    open_stmts: Vec<u32>,
    /// Its place in a pool, for a pooled handle.
    lease: Option<Box<dyn Lease>>,
    /// The session may hold state the next user of a pooled connection must not see.
    dirty: bool,
}

impl Physical {
    fn new(conn: Conn, applied: SessionState, lease: Option<Box<dyn Lease>>) -> Box<Physical> {
        Box::new(Physical {
            conn,
            last_used: Instant::now(),
            applied,
            open_stmts: Vec::new(),
            lease,
            dirty: false,
        })
    }
}

/// Flags shared with the detached failure path of `query_iter`/`exec_iter`, whose results
/// borrow the connection so that the handle itself cannot be touched there.
#[derive(Default)]
struct OpFlags {
    /// The kind of the operation running on the current connection (`op::*`). Still set at
    /// the next operation means its future was dropped mid-way: the connection is discarded.
    in_op: AtomicU8,
    /// The current connection was lost in a detached path, which already told the caller:
    /// discard it at the next operation.
    poisoned: AtomicBool,
    /// What that path left for the next statement to report (a session loss).
    pending: Mutex<Option<mysql_async::Error>>,
}

/// Values of [`OpFlags::in_op`].
pub(super) mod op {
    pub const NONE: u8 = 0;
    pub const READ: u8 = 1;
    pub const WRITE: u8 = 2;
    pub const COMMIT: u8 = 3;
}

fn op_of(stmt: Stmt) -> u8 {
    match stmt {
        Stmt::Read => op::READ,
        Stmt::Write => op::WRITE,
        Stmt::Commit => op::COMMIT,
    }
}

fn stmt_of_op(op: u8) -> Stmt {
    match op {
        op::READ => Stmt::Read,
        op::COMMIT => Stmt::Commit,
        _ => Stmt::Write,
    }
}

/// What a statement is, for the lost-connection rule.
fn stmt_of(class: &Class) -> Stmt {
    if class.retryable() {
        Stmt::Read
    } else if class.kind == Kind::Commit {
        Stmt::Commit
    } else {
        Stmt::Write
    }
}

/// What [`LoadBalancedConnection::begin`] hands to `finish`.
pub(crate) struct Ticket {
    host: usize,
    in_tx: bool,
    stmt: Stmt,
    started: Instant,
    _in_flight: InFlight,
}

/// What a lost connection leaves for the caller (see `loss.rs`).
enum Reported {
    /// Nothing: carry on with a new connection.
    Nothing,
    /// Run the statement again; the error is only logged.
    Retry(mysql_async::Error),
    /// Return this error.
    Error(mysql_async::Error),
}

/// Turns the rule's verdict into what the caller gets, naming `host` and the driver's `cause`.
fn report(verdict: Verdict, host: HostAddr, cause: mysql_async::Error) -> Reported {
    let cause = Box::new(cause);
    let e = match verdict {
        Verdict::Silent => return Reported::Nothing,
        Verdict::Retry => return Reported::Retry(*cause),
        Verdict::Plain => return Reported::Error(*cause),
        Verdict::TransactionLost => Error::TransactionLost { host, cause },
        Verdict::CommitUnknown => Error::CommitUnknown { host, cause },
        Verdict::WriteNotRetried => Error::WriteNotRetried { host, cause },
        Verdict::SessionLost(what) => Error::SessionLost { host, what, cause },
    };
    Reported::Error(e.into_mysql())
}

/// The session loss a later statement reports (the first report took the driver's error).
fn session_lost_later(
    host: HostAddr,
    what: &'static str,
    cause: &mysql_async::Error,
) -> mysql_async::Error {
    Error::SessionLost {
        host,
        what,
        cause: Box::new(mysql_async::Error::Other(cause.to_string().into())),
    }
    .into_mysql()
}

/// A cause for a loss the handle found by itself.
fn found(why: &str) -> mysql_async::Error {
    mysql_async::Error::Other(why.to_owned().into())
}

/// Whether a failed statement should run again.
pub(crate) enum Step<T> {
    Done(MyResult<T>),
    Retry,
}

/// A logical connection that moves between hosts. Implements
/// [`mysql_async::prelude::Queryable`], so code written against `Conn` works unchanged.
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use mysql_async::prelude::Queryable;
/// let opts = "mysql://app:secret@db1:3306,db2:3306,db3:3306/shop".parse()?;
/// let mut conn = mysql_lb::LoadBalancedConnection::connect(opts).await?;
/// let n: Option<u64> = conn.query_first("SELECT COUNT(*) FROM orders").await?;
/// println!("{n:?} orders, served by {:?}", conn.current_host());
/// conn.disconnect().await;
/// # Ok(()) }
/// ```
pub struct LoadBalancedConnection {
    balancer: Arc<Balancer>,
    /// Boxed: the statement path takes a host's connection out and puts it back, which
    /// moves a pointer instead of the whole struct.
    conns: Vec<Option<Box<Physical>>>,
    current: Option<usize>,
    wanted: SessionState,
    refresh_session: bool,
    statements_since_switch: u32,
    rebalance_due: bool,
    pinned: Option<&'static str>,
    stale_stmts: Vec<(HostAddr, u32, u32)>,
    flags: Arc<OpFlags>,
    /// A transaction is open on the current connection, or a `BEGIN` is in flight: read from
    /// the server's status flags after each statement, set before a `BEGIN` is sent.
    tx_open: bool,
    /// A loss the previous statement could not report with its own error (see `loss.rs`).
    pending: Option<Box<mysql_async::Error>>,
    /// A host whose connection just failed and is being checked: not picked by this handle's
    /// next connect unless nothing else is left.
    avoid: Option<usize>,
    /// The host whose connection was lost last, the kind of loss and the driver's words,
    /// until the handle is on another host (a failover, reported then).
    lost_from: Option<(HostAddr, &'static str, String)>,
    /// Hedge-eligible statements not yet credited to the hedge budget.
    hedge_eligible: u64,
    /// A pooled handle that has had its first connection: later ones are rechecked by the
    /// source (`Source::recheck`).
    checked_out: bool,
    pending_rollback: bool,
    /// A read is about to run again after a lost connection: the connection it gets is
    /// pinged first, as connections often die together (a restart, a `KILL` of a user's
    /// sessions) and a retry onto another dead one would hand the caller the error after all.
    ping_next: bool,
    closed: bool,
    /// The pool the handle's connections come from and go back to.
    source: Option<Arc<dyn Source>>,
    /// The source's host-list generation this handle's balancer was taken at.
    generation: u64,
    /// The process's count of hosts that came back, when the handle last looked.
    seen_returns: u64,
    /// The text of the last statement classified, and its class (see [`Self::classify`]).
    last_sql: Vec<u8>,
    last_class: Option<Class>,
    /// When the soonest blacklist entry in force at the handle's last pick expires (see
    /// [`Self::follow_returns`]).
    expiry_watch: Option<Instant>,
    /// Picking again while a host that came back slow-starts (see [`Self::follow_returns`]):
    /// when next, and until when.
    repick: Option<(Instant, Instant)>,
}

impl std::fmt::Debug for LoadBalancedConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadBalancedConnection")
            .field("current_host", &self.current_host())
            .field("pinned", &self.pinned)
            .finish_non_exhaustive()
    }
}

impl LoadBalancedConnection {
    /// Connects to one of `opts`' hosts, chosen by the strategy, switching at once past hosts
    /// that fail. For a `mysql+srv://` URL the SRV records are read first (bounded by
    /// `connect_timeout`) and give the hosts; a single connection does not re-read them.
    pub async fn connect(opts: LbOpts) -> Result<LoadBalancedConnection, Error> {
        #[cfg(feature = "srv")]
        let opts = if crate::srv::unresolved(&opts) {
            opts.resolve().await?
        } else {
            opts
        };
        LoadBalancedConnection::connect_with(Balancer::new(opts)).await
    }

    /// Connects using a shared [`Balancer`] (its strategy state and blacklist).
    pub async fn connect_with(balancer: Arc<Balancer>) -> Result<LoadBalancedConnection, Error> {
        let mut conn = LoadBalancedConnection::unconnected(balancer, None);
        conn.select().await?;
        Ok(conn)
    }

    fn unconnected(
        balancer: Arc<Balancer>,
        source: Option<Arc<dyn Source>>,
    ) -> LoadBalancedConnection {
        let n = balancer.hosts.len();
        LoadBalancedConnection {
            balancer,
            conns: (0..n).map(|_| None).collect(),
            current: None,
            wanted: SessionState::default(),
            refresh_session: false,
            statements_since_switch: 0,
            rebalance_due: false,
            pinned: None,
            stale_stmts: Vec::new(),
            flags: Arc::default(),
            tx_open: false,
            pending: None,
            avoid: None,
            lost_from: None,
            hedge_eligible: 0,
            checked_out: false,
            pending_rollback: false,
            ping_next: false,
            closed: false,
            generation: source.as_ref().map_or(0, |p| p.generation()),
            source,
            seen_returns: crate::stats::returns(),
            expiry_watch: None,
            repick: None,
            last_sql: Vec::new(),
            last_class: None,
        }
    }

    /// Whether the connections come from a [`crate::LoadBalancedPool`].
    pub fn is_pooled(&self) -> bool {
        self.source.is_some()
    }

    /// The host the next statement goes to, if connected.
    pub fn current_host(&self) -> Option<&HostAddr> {
        self.current.map(|i| self.balancer.addr(i))
    }

    /// The options in use.
    pub fn opts(&self) -> &LbOpts {
        &self.balancer.opts
    }

    /// The blacklist this handle uses (the process-wide one unless configured otherwise).
    pub fn blacklist(&self) -> &Arc<Blacklist> {
        &self.balancer.blacklist
    }

    /// The shared stats of every configured host, in configuration order.
    pub fn host_stats(&self) -> Vec<(HostAddr, Arc<HostStats>)> {
        self.balancer
            .hosts
            .iter()
            .map(|h| (h.spec.addr.clone(), h.stats.clone()))
            .collect()
    }

    /// Whether a transaction is open on the current connection.
    pub fn in_transaction(&self) -> bool {
        self.current.is_some() && self.tx_open && !self.lost_in_stream()
    }

    /// The current connection was lost by a streaming result (reported already; the handle
    /// lets it go at its next operation).
    fn lost_in_stream(&self) -> bool {
        self.flags.poisoned.load(Ordering::Acquire)
    }

    /// Why the handle will not move on its own, if it will not: session state that cannot
    /// move to another host.
    pub fn pinned_by(&self) -> Option<&'static str> {
        self.pinned.filter(|_| !self.lost_in_stream())
    }

    /// Asks the handle to pick a host again before the next statement (at once if no
    /// transaction is open and nothing pins the session).
    pub fn rebalance(&mut self) {
        self.rebalance_due = true;
    }

    /// Sets autocommit on this and every later connection.
    pub async fn set_autocommit(&mut self, on: bool) -> Result<(), Error> {
        self.wanted.autocommit = Some(on);
        self.sync_session().await
    }

    /// Sets the session isolation level on this and every later connection.
    pub async fn set_isolation_level(&mut self, level: IsolationLevel) -> Result<(), Error> {
        self.wanted.isolation = Some(session::isolation_sql(level).to_owned());
        self.sync_session().await
    }

    /// Sets session read-only mode on this and every later connection.
    pub async fn set_read_only(&mut self, on: bool) -> Result<(), Error> {
        self.wanted.read_only = Some(on);
        self.sync_session().await
    }

    /// Makes `db` the current database on this and every later connection.
    pub async fn select_db(&mut self, db: &str) -> Result<(), Error> {
        self.wanted.database = Some(db.to_owned());
        self.sync_session().await
    }

    /// Forgets prepared statements of connections that are gone, so that executing a
    /// `Statement` is allowed again (after preparing it anew).
    pub fn forget_stale_statements(&mut self) {
        self.stale_stmts.clear();
    }

    /// Starts a transaction on a host chosen now; it stays there until commit or rollback.
    pub async fn start_transaction(
        &mut self,
        opts: TxOpts,
    ) -> Result<LoadBalancedTransaction<'_>, Error> {
        if self.in_transaction() {
            return Err(Error::Mysql(
                mysql_async::DriverError::NestedTransaction.into(),
            ));
        }
        if let Some(level) = opts.isolation_level() {
            let sql = format!(
                "SET TRANSACTION ISOLATION LEVEL {}",
                session::isolation_sql(level)
            );
            self.query_drop(sql).await?;
        }
        let mut sql = String::from("START TRANSACTION");
        let mut traits = Vec::new();
        if opts.consistent_snapshot() {
            traits.push("WITH CONSISTENT SNAPSHOT");
        }
        match opts.readonly() {
            Some(true) => traits.push("READ ONLY"),
            Some(false) => traits.push("READ WRITE"),
            None => {}
        }
        if !traits.is_empty() {
            sql.push(' ');
            sql.push_str(&traits.join(", "));
        }
        self.query_drop(sql).await?;
        Ok(LoadBalancedTransaction {
            conn: self,
            done: false,
        })
    }

    /// Closes every physical connection cleanly.
    /// A pooled handle gives its connection back to the pool instead.
    pub async fn disconnect(mut self) {
        if self.source.is_some() {
            return; // dropped here: back to the pool
        }
        self.closed = true;
        for p in self.conns.iter_mut().filter_map(Option::take) {
            let _ = timeout(self.balancer.opts.ping_timeout, p.conn.disconnect()).await;
        }
    }

    // ---- the statement path ----
    //
    // The rare steps (a connect, a ping, a rollback, reading the session back) are boxed
    // where they are awaited: inline, their state would make every statement's future
    // kilobytes larger, and that future is copied into its box on each call.

    /// The class of `sql`: the last statement's again when the text is the same (services
    /// repeat their statements, and comparing bytes costs less than lexing them), else
    /// classified and remembered. Texts longer than [`CLASS_CACHE_MAX`] are not kept.
    pub(crate) fn classify(&mut self, sql: &[u8]) -> Class {
        if let Some(class) = self.last_class
            && self.last_sql == sql
        {
            return class;
        }
        let class = classify::classify(sql);
        self.last_sql.clear();
        if sql.len() <= CLASS_CACHE_MAX {
            self.last_sql.extend_from_slice(sql);
            self.last_class = Some(class);
        } else {
            self.last_class = None;
        }
        class
    }

    /// Gets the current connection ready for a statement of class `class`. A connection found
    /// lost here is judged by the lost-connection rule, and its report, if any, is returned
    /// instead of running the statement.
    pub(crate) async fn begin(&mut self, class: &Class) -> MyResult<Ticket> {
        if self.closed {
            return Err(Error::Closed.into_mysql());
        }
        if let Some(e) = self.pending.take() {
            return Err(*e);
        }
        if let Some(source) = &self.source
            && source.generation() != self.generation
        {
            let source = source.clone();
            self.follow_source(&source)?;
        }
        if self.flags.poisoned.swap(false, Ordering::AcqRel) {
            // Lost in a streaming path, which has told the caller already.
            if let Some(i) = self.current {
                self.discard(i);
            }
            self.forget_session();
            let pending = self
                .flags
                .pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            if let Some(e) = pending {
                return Err(e);
            }
        }
        let cancelled = self.flags.in_op.swap(op::NONE, Ordering::AcqRel);
        if let Some(i) = self.current {
            if cancelled != op::NONE {
                let stmt = stmt_of_op(cancelled);
                let why = "the previous operation on it was cancelled before it finished";
                self.lose_before(i, When::Cancelled { stmt }, found(why))?;
            } else if self.conns[i]
                .as_ref()
                .is_none_or(|p| p.conn.is_disconnected())
            {
                let why = "the connection was found closed before the statement";
                self.lose_before(i, When::Before, found(why))?;
            }
        }
        if self.pending_rollback
            && let Some(i) = self.current
        {
            // The caller dropped its transaction: roll it back before anything else.
            let r = match self.conns[i].as_mut() {
                Some(p) => Box::pin(timeout(
                    self.balancer.opts.ping_timeout,
                    p.conn.query_drop("ROLLBACK"),
                ))
                .await
                .unwrap_or_else(|_| Err(found("ROLLBACK took longer than ping_timeout"))),
                None => Ok(()),
            };
            match r {
                Ok(()) => {
                    self.pending_rollback = false;
                    self.tx_open = false;
                }
                Err(e) => self.lose_before(i, When::Before, e)?,
            }
        }
        if self.refresh_session {
            self.refresh_session = false;
            Box::pin(self.read_back_session()).await;
        }
        // One clock read serves the return checks, the idle check and the statement's start,
        // unless a ping or a connect came in between.
        let mut now = Instant::now();
        if self.source.is_none() {
            // A pooled handle lives for one checkout; the pool's next checkout picks anew.
            self.follow_returns(now);
        }
        if self.rebalance_due && self.current.is_some() && self.may_move() {
            self.rebalance_due = false;
            self.statements_since_switch = 0;
            self.current = None;
        }
        if let Some(i) = self.current
            && self.needs_ping(i, now)
        {
            if let Err(e) = Box::pin(self.ping_physical(i)).await {
                self.lose_before(i, When::Before, e)?;
            }
            now = Instant::now();
        }
        if self.current.is_none() {
            Box::pin(self.select()).await.map_err(Error::into_mysql)?;
            now = Instant::now();
        }
        if std::mem::take(&mut self.ping_next)
            && let Some(i) = self.current
        {
            if let Err(e) = Box::pin(self.ping_physical(i)).await {
                // Outside a transaction and unpinned (or there would be no retry): silent.
                self.lose_before(i, When::Before, e)?;
                Box::pin(self.select()).await.map_err(Error::into_mysql)?;
            }
            now = Instant::now();
        }
        let host = self.current.unwrap_or_default();
        if class.kind == Kind::Begin {
            // Counted as open while in flight: if it is lost now, nothing after it may run
            // in autocommit as though it were inside.
            self.tx_open = true;
        }
        let stmt = stmt_of(class);
        self.flags.in_op.store(op_of(stmt), Ordering::Release);
        Ok(Ticket {
            host,
            in_tx: self.tx_open,
            stmt,
            started: now,
            _in_flight: self.balancer.hosts[host].stats.start_at(now),
        })
    }

    /// Gives up a ticket whose statement was not sent.
    pub(crate) fn abandon(&mut self, ticket: Ticket) {
        self.flags.in_op.store(op::NONE, Ordering::Release);
        drop(ticket);
    }

    /// What follows a statement's outcome: a write's follow-up (its causal position) and a
    /// session read-back, the only steps that wait. Separate from [`Self::finish`], which is
    /// synchronous, so that a statement's future holds the outcome, not `finish`'s arguments.
    pub(crate) async fn follow_up<T>(&mut self, step: Step<T>, host: usize, kind: Kind) -> Step<T> {
        if matches!(step, Step::Done(Ok(_))) {
            if matches!(kind, Kind::Other | Kind::Commit) {
                self.after_write(host).await;
            }
            if self.refresh_session {
                self.refresh_session = false;
                Box::pin(self.read_back_session()).await;
            }
        }
        step
    }

    /// Records the outcome of a statement and decides whether it runs again; then the caller
    /// awaits [`Self::follow_up`].
    pub(crate) fn finish<T>(
        &mut self,
        ticket: Ticket,
        class: &Class,
        sql: &[u8],
        retry_allowed: bool,
        result: MyResult<T>,
    ) -> Step<T> {
        self.flags.in_op.store(op::NONE, Ordering::Release);
        match result {
            Ok(v) => {
                let stats = &self.balancer.hosts[ticket.host].stats;
                let now = Instant::now();
                stats.observe_at(now - ticket.started, now, self.balancer.opts.latency_decay);
                if let Some(p) = self.conns[ticket.host].as_mut() {
                    p.last_used = now;
                    p.dirty |= class.kind == Kind::Session || class.pins.is_some();
                    // The server says whether a transaction is open (a DDL statement commits
                    // implicitly, `SET autocommit=1` too); without an OK packet, the kind says.
                    if let Some(ok) = p.conn.last_ok_packet() {
                        self.tx_open = ok
                            .status_flags()
                            .contains(StatusFlags::SERVER_STATUS_IN_TRANS);
                    }
                }
                self.note_statement(class, sql);
                Step::Done(Ok(v))
            }
            Err(e) => {
                self.balancer.hosts[ticket.host]
                    .stats
                    .record_statement_error();
                let disconnected = self.conns[ticket.host]
                    .as_ref()
                    .is_none_or(|p| p.conn.is_disconnected());
                if let Some(source) = &self.source {
                    source.statement_failed(&e);
                }
                // A read-only transaction the caller asked for refuses writes itself (1792):
                // not the host's doing, whatever `reject_read_only` says.
                if self.wanted.read_only == Some(true)
                    && matches!(&e, mysql_async::Error::Server(s) if s.code == 1792)
                {
                    return Step::Done(Err(e));
                }
                if is_rolled_back(&e) {
                    // The server ended the transaction itself: the session is in autocommit
                    // again, and the caller must run the transaction anew.
                    self.tx_open = false;
                    self.rebalance_due = true;
                    return Step::Done(Err(rolled_back(self.balancer.addr(ticket.host), e)));
                }
                if !judge(
                    &self.balancer,
                    ticket.host,
                    disconnected,
                    &e,
                    self.host_down(),
                ) {
                    return Step::Done(Err(e));
                }
                self.avoid = Some(ticket.host);
                let retry = retry_allowed && self.balancer.opts.retry_reads;
                let when = When::During {
                    stmt: ticket.stmt,
                    retry,
                };
                match self.lose(ticket.host, when, e) {
                    Reported::Retry(e) => {
                        tracing::info!(host = %self.balancer.addr(ticket.host), error = %e, "read retried on another host");
                        self.ping_next = true;
                        Step::Retry
                    }
                    Reported::Error(e) => Step::Done(Err(e)),
                    // `During` always reports; a silent loss here would be a bug.
                    Reported::Nothing => Step::Done(Err(found("connection lost"))),
                }
            }
        }
    }

    /// Drops host `i`'s connection, which is lost, and applies the lost-connection rule with
    /// what the handle knew of its session. A session loss for the next statement is kept.
    fn lose(&mut self, i: usize, when: When, cause: mysql_async::Error) -> Reported {
        let session = loss::Session {
            in_tx: self.tx_open,
            abandoned: self.pending_rollback,
            pinned: self.pinned,
        };
        let decision = loss::decide(session, when);
        self.discard(i);
        self.forget_session();
        let host = self.balancer.addr(i).clone();
        self.lost_from = Some((host.clone(), loss_kind(&cause), cause.to_string()));
        if let Some(what) = decision.next {
            self.pending = Some(Box::new(session_lost_later(host.clone(), what, &cause)));
        }
        tracing::debug!(%host, error = %cause, ?decision, "connection lost");
        report(decision.now, host, cause)
    }

    /// [`Self::lose`] for a loss found before a statement was sent: its report is the
    /// statement's error.
    fn lose_before(&mut self, i: usize, when: When, cause: mysql_async::Error) -> MyResult<()> {
        match self.lose(i, when, cause) {
            Reported::Error(e) => Err(e),
            Reported::Nothing | Reported::Retry(_) => Ok(()),
        }
    }

    /// What the handle knew of a session that is gone.
    fn forget_session(&mut self) {
        self.tx_open = false;
        self.pinned = None;
        self.pending_rollback = false;
    }

    /// What to do once a host is confirmed down: a pool drops its idle connections there.
    fn host_down(&self) -> Option<HostDown> {
        let source = self.source.clone()?;
        Some(Arc::new(move |addr: &HostAddr| source.host_down(addr)))
    }

    /// The bookkeeping a successful statement causes (done before the call for streaming
    /// results, whose completion the handle does not see).
    fn note_statement(&mut self, class: &Class, sql: &[u8]) {
        match class.kind {
            Kind::Begin => self.tx_open = true,
            Kind::Commit | Kind::Rollback => {
                self.tx_open = false;
                self.rebalance_due = true;
            }
            _ => {}
        }
        if class.tracked_change {
            self.refresh_session = true;
        }
        if let Some(what) = class.pins {
            self.pinned = Some(what);
        }
        let threshold = self.balancer.opts.autocommit_threshold;
        if threshold > 0
            && class.counted
            && !self.in_transaction()
            && self
                .balancer
                .opts
                .autocommit_regex
                .as_ref()
                .is_none_or(|re| re.is_match(&String::from_utf8_lossy(sql)))
        {
            self.statements_since_switch += 1;
            if self.statements_since_switch >= threshold {
                self.rebalance_due = true;
            }
        }
    }

    /// The failure path of `query_iter`/`exec_iter`, which cannot touch the handle.
    fn detach(&self, ticket: Ticket) -> Detached {
        Detached {
            balancer: self.balancer.clone(),
            flags: self.flags.clone(),
            session: loss::Session {
                in_tx: ticket.in_tx,
                abandoned: false,
                pinned: self.pinned,
            },
            host_down: self.host_down(),
            ticket,
        }
    }

    /// Draws the handle back to a host that came back (off the blacklist, added, recovered
    /// from slowness), without `autocommit_threshold`. Two signals, each a compare per
    /// statement:
    /// - a blacklist entry of one of its hosts, in force at its last pick, has expired
    ///   (`expiry_watch`): it picks again at its next safe point, which may make it the
    ///   host's single probe; while the host waits for its probe, every 100 ms;
    /// - a host in the process came back (a relaxed atomic load): it picks again, and again
    ///   every eighth of `slow_start` until the ramp is over, so that the share of long-lived
    ///   handles on that host follows its slow-start weight up instead of staying where the
    ///   outage left it.
    ///
    /// Connector/J's default (`loadBalanceAutoCommitStatementThreshold=0`) never moves: a
    /// restarted host gets nothing from existing connections. Not for pooled handles: each
    /// lives for one checkout, and the pool's next checkout picks anew.
    fn follow_returns(&mut self, now: Instant) {
        if let Some(at) = self.expiry_watch
            && now >= at
        {
            self.expiry_watch = None;
            self.rebalance_due = true;
        }
        let returns = crate::stats::returns();
        if returns != self.seen_returns {
            self.seen_returns = returns;
            self.repick = Some((now, now + self.balancer.opts.slow_start));
        }
        if let Some((next, until)) = self.repick
            && now >= next
        {
            self.rebalance_due = true;
            self.repick = (now <= until).then(|| (now + self.balancer.opts.slow_start / 8, until));
        }
    }

    fn may_move(&self) -> bool {
        !self.in_transaction()
            && self.pinned.is_none()
            && self
                .current_physical_ref()
                .is_none_or(|p| p.open_stmts.is_empty())
    }

    fn current_physical(&mut self) -> Option<&mut Physical> {
        let i = self.current?;
        self.conns[i].as_deref_mut()
    }

    fn current_physical_ref(&self) -> Option<&Physical> {
        let i = self.current?;
        self.conns[i].as_deref()
    }

    /// The current `Conn`. Only called after `begin` succeeded.
    pub(crate) fn conn_mut(&mut self) -> MyResult<&mut Conn> {
        self.current_physical()
            .map(|p| &mut p.conn)
            .ok_or_else(|| Error::Closed.into_mysql())
    }

    /// Where a statement started at `ticket` runs out of `socket_timeout` (`None`: unbounded).
    fn statement_limit(&self, ticket: &Ticket) -> Option<queryable::Limit> {
        self.balancer
            .opts
            .socket_timeout
            .map(|after| queryable::Limit {
                at: ticket.started + after,
                after,
            })
    }

    /// The balancer and the current connection, borrowed apart, so that a statement on the
    /// connection can name its host without cloning the address.
    fn parts(&mut self) -> (&Balancer, MyResult<&mut Conn>) {
        let conn = self
            .current
            .and_then(|i| self.conns[i].as_mut())
            .map(|p| &mut p.conn)
            .ok_or_else(|| Error::Closed.into_mysql());
        (&self.balancer, conn)
    }

    pub(crate) fn current_addr(&self) -> HostAddr {
        self.current
            .map(|i| self.balancer.addr(i).clone())
            .unwrap_or_else(|| self.balancer.addr(0).clone())
    }

    /// Drops host `i`'s connection; its prepared statements become stale. Callers apply the
    /// lost-connection rule first (`lose`) unless nothing of the session can be lost.
    fn discard(&mut self, i: usize) {
        if self.current == Some(i) {
            self.current = None;
        }
        if let Some(p) = self.conns[i].take() {
            self.mark_stale(i, &p);
            // Dropping a Conn spawns its disconnect; a dead one just closes.
            drop(p);
        }
    }

    /// The statements prepared on `p` (host `i`), which is leaving the handle, become stale.
    fn mark_stale(&mut self, i: usize, p: &Physical) {
        if p.open_stmts.is_empty() {
            return;
        }
        let addr = self.balancer.addr(i).clone();
        let id = p.conn.id();
        self.stale_stmts
            .extend(p.open_stmts.iter().map(|s| (addr.clone(), id, *s)));
        // Only the newest are worth remembering: an old one matching a new connection's ids
        // is all but impossible, and the list must not grow with the handle's age.
        let excess = self.stale_stmts.len().saturating_sub(MAX_STALE);
        self.stale_stmts.drain(..excess);
    }

    fn needs_ping(&self, i: usize, now: Instant) -> bool {
        self.conns[i].as_ref().is_some_and(|p| {
            now.saturating_duration_since(p.last_used) >= self.balancer.opts.idle_ping_after
        })
    }

    /// Pings host `i`'s connection, bounded. A failure is not the host's fault (an idle
    /// connection may have been closed by `wait_timeout` or `KILL`): no blacklisting here.
    async fn ping_physical(&mut self, i: usize) -> MyResult<()> {
        let bound = self.balancer.opts.ping_timeout;
        let Some(p) = self.conns[i].as_mut() else {
            return Err(found("no connection"));
        };
        match timeout(bound, p.conn.ping()).await {
            Ok(Ok(())) => {
                p.last_used = Instant::now();
                Ok(())
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Timeout {
                host: self.balancer.addr(i).clone(),
                step: "ping",
                after: bound,
            }
            .into_mysql()),
        }
    }

    /// Picks a host and makes its connection current: a kept connection if the handle has
    /// one there (pinged if idle), else a new one. Switches at once past failing hosts.
    async fn select(&mut self) -> Result<(), Error> {
        let balancer = self.balancer.clone();
        // A host whose connection just failed is being checked: tried last, if at all.
        let avoid = self.avoid.take();
        // The strategy picks once; a kept connection to its pick is used without a connect.
        let first = balancer
            .pick(None, avoid.as_slice())
            .or_else(|| balancer.pick(None, &[]));
        if let Some(i) = first
            && self.conns[i].is_some()
        {
            if !self.needs_ping(i, Instant::now()) || self.ping_physical(i).await.is_ok() {
                return self.make_current(i).await;
            }
            // Not current: nothing of the session lives there (the handle only leaves a
            // host where nothing can be lost).
            self.discard(i);
        }
        if let Some(source) = self.source.clone() {
            return self.select_pooled(&source, first, avoid).await;
        }
        let wanted = self.wanted.clone();
        let ping_timeout = balancer.opts.ping_timeout;
        let validate = balancer.opts.validate_on_swap;
        let conns = &mut self.conns;
        let all: Vec<usize> = (0..balancer.hosts.len()).collect();
        let (i, physical) = balancer
            .establish(first, &all, avoid, |i| {
                let kept = conns[i].take();
                let fresh = dial_with(&balancer, i, wanted.clone());
                async move {
                    if let Some(mut p) = kept {
                        let fresh = !validate;
                        if fresh || matches!(timeout(ping_timeout, p.conn.ping()).await, Ok(Ok(())))
                        {
                            return Ok(p);
                        }
                    }
                    fresh.await
                }
            })
            .await?;
        self.conns[i] = Some(physical);
        self.make_current(i).await
    }

    async fn make_current(&mut self, i: usize) -> Result<(), Error> {
        // A host skipped for its blacklist entry is looked at again when the entry expires.
        self.expiry_watch = self.balancer.blacklist_watch(Instant::now());
        let wanted = self.wanted.clone();
        let p = self.conns[i].as_mut().ok_or(Error::Closed)?;
        if p.applied != wanted {
            if let Err(e) = wanted.apply(&mut p.conn, &p.applied).await {
                self.conns[i] = None;
                return Err(Error::Mysql(e));
            }
            p.applied = wanted;
        }
        if self.current != Some(i) {
            tracing::debug!(host = %self.balancer.addr(i), "switched host");
        }
        if let Some((from, kind, why)) = self.lost_from.take()
            && &from != self.balancer.addr(i)
        {
            crate::observe::failover(&from, self.balancer.addr(i), kind, &why);
        }
        self.current = Some(i);
        self.statements_since_switch = 0;
        if self.source.is_some() {
            // A pooled handle holds one connection; the others go back for other users.
            for j in (0..self.conns.len()).filter(|&j| j != i) {
                if let Some(p) = self.conns[j].take() {
                    self.release(j, p, false);
                }
            }
        }
        Ok(())
    }

    async fn sync_session(&mut self) -> Result<(), Error> {
        if self.current.is_none() {
            return Ok(());
        }
        // Judged like a read: lost, it is simply applied on the next connection.
        let class = Class::READ;
        let ticket = self.begin(&class).await.map_err(Error::Mysql)?;
        let wanted = self.wanted.clone();
        let r = match self.current_physical() {
            Some(p) => {
                let r = wanted.apply(&mut p.conn, &p.applied).await;
                if r.is_ok() {
                    p.applied = wanted;
                }
                r
            }
            None => Ok(()),
        };
        let host = ticket.host;
        let step = self.finish(ticket, &class, b"", true, r);
        match self.follow_up(step, host, class.kind).await {
            Step::Done(r) => r.map_err(Error::from_mysql_owned),
            Step::Retry => Ok(()),
        }
    }

    async fn read_back_session(&mut self) {
        if let Some(p) = self.current_physical()
            && let Ok(state) = SessionState::read(&mut p.conn).await
        {
            p.applied = state.clone();
            self.wanted = state;
        }
    }

    /// Refuses a `Statement` that was not prepared on the current connection: statement ids
    /// repeat across connections and servers, so sending it could run another statement.
    /// SQL text and statements prepared on the current connection pass. A statement whose
    /// ids match both the current connection and one that is gone (ids collide across
    /// servers) is refused too: nothing tells the two apart.
    pub(crate) fn check_stale<S>(&self, stmt: &S) -> MyResult<()> {
        let Some(st) = as_statement(stmt) else {
            return Ok(());
        };
        let ids = (st.connection_id(), st.id());
        let gone = self
            .stale_stmts
            .iter()
            .rev()
            .find(|(_, conn, id)| (*conn, *id) == ids);
        let here = self
            .current_physical_ref()
            .is_some_and(|p| p.conn.id() == ids.0 && p.open_stmts.contains(&ids.1));
        if here && gone.is_none() {
            return Ok(());
        }
        Err(Error::StaleStatement {
            prepared_on: gone.map(|(on, _, _)| on.clone()),
            now_on: self.current_addr(),
        }
        .into_mysql())
    }
}

/// Statements remembered as stale per handle, at most.
const MAX_STALE: usize = 256;

/// The `Statement` that `stmt` is, if it is one (by value, or behind one or two references):
/// `StatementLike` offers no way to look inside.
fn as_statement<S>(stmt: &S) -> Option<&Statement> {
    let t = typeid::of::<S>();
    let p = stmt as *const S;
    // SAFETY: each cast is to the type `S` was just found to be. `typeid` compares types with
    // their lifetimes erased, and `Statement` has none, so the layouts are the same.
    unsafe {
        if t == typeid::of::<Statement>() {
            Some(&*(p as *const Statement))
        } else if t == typeid::of::<&Statement>() {
            Some(*(p as *const &Statement))
        } else if t == typeid::of::<&&Statement>() {
            Some(**(p as *const &&Statement))
        } else {
            None
        }
    }
}

/// A new connection to host `i` with `wanted` applied, for a handle of its own (not pooled).
fn dial_with(
    balancer: &Balancer,
    i: usize,
    wanted: SessionState,
) -> impl std::future::Future<Output = MyResult<Box<Physical>>> + use<> {
    let dial = balancer.dial(i);
    async move {
        let mut conn = dial.await?;
        wanted.apply(&mut conn, &SessionState::default()).await?;
        Ok(Physical::new(conn, wanted, None))
    }
}

/// A short name for how a connection was lost: a metric label.
fn loss_kind(cause: &mysql_async::Error) -> &'static str {
    match Error::from_mysql(cause) {
        Some(Error::Timeout { .. }) => "timeout",
        Some(Error::Tls { .. }) => "tls",
        Some(Error::Mysql(inner)) => loss_kind(inner),
        Some(_) => "other",
        None => match cause {
            mysql_async::Error::Io(_) | mysql_async::Error::Driver(_) => "connection",
            mysql_async::Error::Server(_) => "server",
            _ => "other",
        },
    }
}

/// The caller's error for the server's word that it rolled the transaction back.
fn rolled_back(host: &HostAddr, cause: mysql_async::Error) -> mysql_async::Error {
    Error::TransactionRolledBack {
        host: host.clone(),
        cause: Box::new(cause),
    }
    .into_mysql()
}

/// Judges a failed statement on host `host`: `true` when the connection is lost. Blames the
/// host as the module docs of [`crate::balancer`] say: the server's own word at once, a lost
/// connection only once a new connect fails too.
fn judge(
    balancer: &Arc<Balancer>,
    host: usize,
    disconnected: bool,
    e: &mysql_async::Error,
    down: Option<HostDown>,
) -> bool {
    let host_fault = balancer.is_host_failure(e);
    if host_fault {
        match e {
            // Killed or idle-closed: about this connection only.
            mysql_async::Error::Server(se) if !matches!(se.code, 1927 | 4031) => {
                tracing::warn!(host = %balancer.addr(host), error = %e, "host failed");
                balancer.mark_failed(host, e);
                if let Some(down) = down {
                    down(balancer.addr(host));
                }
            }
            _ => balancer.confirm_failure(host, e, down),
        }
    }
    let broken = matches!(
        e,
        mysql_async::Error::Io(_)
            | mysql_async::Error::Driver(mysql_async::DriverError::ConnectionClosed)
    ) || matches!(Error::from_mysql(e), Some(Error::Timeout { .. }));
    host_fault || disconnected || broken
}

/// The failure path for streaming results (see [`LoadBalancedConnection::detach`]): the same
/// rule as `finish`, reported through the shared flags.
pub(crate) struct Detached {
    balancer: Arc<Balancer>,
    flags: Arc<OpFlags>,
    session: loss::Session,
    host_down: Option<HostDown>,
    ticket: Ticket,
}

impl Detached {
    /// The host the statement went to.
    pub(crate) fn host(&self) -> &HostAddr {
        self.balancer.addr(self.ticket.host)
    }

    pub(crate) fn succeeded(self) {
        self.flags.in_op.store(op::NONE, Ordering::Release);
        let now = Instant::now();
        self.balancer.hosts[self.ticket.host].stats.observe_at(
            now - self.ticket.started,
            now,
            self.balancer.opts.latency_decay,
        );
    }

    pub(crate) fn failed(self, e: mysql_async::Error, disconnected: bool) -> mysql_async::Error {
        self.flags.in_op.store(op::NONE, Ordering::Release);
        self.balancer.hosts[self.ticket.host]
            .stats
            .record_statement_error();
        let host = self.ticket.host;
        if is_rolled_back(&e) {
            // The handle reads the session's state from the next statement's answer.
            return rolled_back(self.balancer.addr(host), e);
        }
        if !judge(&self.balancer, host, disconnected, &e, self.host_down) {
            return e;
        }
        // Streaming results are never retried: the caller may have seen rows already.
        let when = When::During {
            stmt: self.ticket.stmt,
            retry: false,
        };
        let decision = loss::decide(self.session, when);
        let addr = self.balancer.addr(host).clone();
        if let Some(what) = decision.next {
            *self.flags.pending.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(session_lost_later(addr.clone(), what, &e));
        }
        self.flags.poisoned.store(true, Ordering::Release);
        match report(decision.now, addr, e) {
            Reported::Error(e) | Reported::Retry(e) => e,
            Reported::Nothing => found("connection lost"),
        }
    }
}

/// A transaction on a [`LoadBalancedConnection`]. Statements run through it (it dereferences
/// to the connection). Dropped without `commit` or `rollback`, it is rolled back before the
/// connection's next statement.
pub struct LoadBalancedTransaction<'a> {
    conn: &'a mut LoadBalancedConnection,
    done: bool,
}

impl LoadBalancedTransaction<'_> {
    /// Commits.
    pub async fn commit(mut self) -> Result<(), Error> {
        self.done = true;
        self.conn
            .query_drop("COMMIT")
            .await
            .map_err(Error::from_mysql_owned)
    }

    /// Rolls back.
    pub async fn rollback(mut self) -> Result<(), Error> {
        self.done = true;
        self.conn
            .query_drop("ROLLBACK")
            .await
            .map_err(Error::from_mysql_owned)
    }
}

impl std::ops::Deref for LoadBalancedTransaction<'_> {
    type Target = LoadBalancedConnection;
    fn deref(&self) -> &LoadBalancedConnection {
        self.conn
    }
}

impl std::ops::DerefMut for LoadBalancedTransaction<'_> {
    fn deref_mut(&mut self) -> &mut LoadBalancedConnection {
        self.conn
    }
}

impl Drop for LoadBalancedTransaction<'_> {
    fn drop(&mut self) {
        if !self.done && self.conn.in_transaction() {
            self.conn.pending_rollback = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every statement's future is built on the stack and copied into its box: the rare
    /// steps stay boxed apart (see "the statement path"), so that these stay small.
    #[test]
    fn the_statement_path_futures_stay_small() {
        let opts: LbOpts = "mysql://u:p@127.0.0.1:1,127.0.0.1:2/".parse().unwrap();
        let mut c = LoadBalancedConnection::unconnected(Balancer::new(opts), None);
        let class = Class::READ;
        let begin = std::mem::size_of_val(&c.begin(&class));
        assert!(begin <= 128, "begin: {begin} bytes");
        let span = tracing::Span::none();
        let read =
            std::mem::size_of_val(&c.run_hedged(b"SELECT 1", &class, &hedged::QueryDrop, &span));
        // Under 1 KiB, so that the boxed statement future comes from the allocator's
        // per-thread cache (glibc's tcache serves up to 1,032 bytes).
        assert!(read <= 768, "a hedged read: {read} bytes");
    }
}
