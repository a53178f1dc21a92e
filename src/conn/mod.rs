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
//! What happens to the statement that met the failure:
//! - inside a transaction: [`Error::TransactionLost`]; nothing is replayed;
//! - a plain read in autocommit (`SELECT`, `SHOW`, …) run through a collecting method
//!   (`query`, `query_first`, `query_drop`): run once more on another host, transparently;
//! - anything else: [`Error::WriteNotRetried`] (the write may or may not have happened).
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
mod pooled;
mod queryable;
pub(crate) mod session;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mysql_async::consts::StatusFlags;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, IsolationLevel, TxOpts};
use tokio::time::{Instant, timeout};

use self::classify::{Class, Kind};
use self::session::SessionState;
use crate::balancer::Balancer;
use crate::blacklist::Blacklist;
use crate::error::Error;
use crate::opts::{HostAddr, LbOpts};
use crate::pool::{Lease, PoolCore};
use crate::stats::{HostStats, InFlight};

type MyResult<T> = mysql_async::Result<T>;

/// One physical connection and what the handle knows of it.
struct Physical {
    conn: Conn,
    last_used: Instant,
    applied: SessionState,
    /// Ids of statements prepared through the handle on this connection and not closed.
    open_stmts: Vec<u32>,
    /// Its place in a pool, for a pooled handle.
    lease: Option<Lease>,
    /// The session may hold state the next user of a pooled connection must not see.
    dirty: bool,
}

impl Physical {
    fn new(conn: Conn, applied: SessionState, lease: Option<Lease>) -> Physical {
        Physical {
            conn,
            last_used: Instant::now(),
            applied,
            open_stmts: Vec::new(),
            lease,
            dirty: false,
        }
    }
}

/// Flags shared with the detached failure path of `query_iter`/`exec_iter`, whose results
/// borrow the connection so that the handle itself cannot be touched there.
#[derive(Default)]
struct OpFlags {
    /// An operation on the current connection started and has not finished. Still set at the
    /// next operation means the future was dropped mid-way: the connection is discarded.
    in_op: AtomicBool,
    /// The current connection failed in a detached path: discard it at the next operation.
    poisoned: AtomicBool,
}

/// What [`LoadBalancedConnection::begin`] hands to `finish`.
pub(crate) struct Ticket {
    host: usize,
    in_tx: bool,
    started: Instant,
    _in_flight: InFlight,
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
    conns: Vec<Option<Physical>>,
    current: Option<usize>,
    wanted: SessionState,
    refresh_session: bool,
    statements_since_switch: u32,
    rebalance_due: bool,
    pinned: Option<&'static str>,
    stale_stmts: Vec<(HostAddr, u32, u32)>,
    flags: Arc<OpFlags>,
    tx_hint: bool,
    pending_rollback: bool,
    closed: bool,
    /// The pool the handle's connections come from and go back to.
    pool: Option<Arc<PoolCore>>,
    /// The pool's host-list generation this handle's balancer was taken at.
    generation: u64,
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
    /// that fail.
    pub async fn connect(opts: LbOpts) -> Result<LoadBalancedConnection, Error> {
        LoadBalancedConnection::connect_with(Balancer::new(opts)).await
    }

    /// Connects using a shared [`Balancer`] (its strategy state and blacklist).
    pub async fn connect_with(balancer: Arc<Balancer>) -> Result<LoadBalancedConnection, Error> {
        let mut conn = LoadBalancedConnection::unconnected(balancer, None);
        conn.select().await?;
        Ok(conn)
    }

    /// A handle whose connections come from `pool` (see [`crate::LoadBalancedPool`]).
    pub(crate) async fn checkout(pool: Arc<PoolCore>) -> Result<LoadBalancedConnection, Error> {
        if pool.is_closed() {
            return Err(Error::Closed);
        }
        let mut conn = LoadBalancedConnection::unconnected(pool.balancer(), Some(pool));
        conn.select().await?;
        Ok(conn)
    }

    fn unconnected(balancer: Arc<Balancer>, pool: Option<Arc<PoolCore>>) -> LoadBalancedConnection {
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
            tx_hint: false,
            pending_rollback: false,
            closed: false,
            generation: pool.as_ref().map_or(0, |p| p.generation()),
            pool,
        }
    }

    /// Whether the connections come from a [`crate::LoadBalancedPool`].
    pub fn is_pooled(&self) -> bool {
        self.pool.is_some()
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
        let Some(p) = self.current.and_then(|i| self.conns[i].as_ref()) else {
            return false;
        };
        p.conn
            .last_ok_packet()
            .map(|ok| {
                ok.status_flags()
                    .contains(StatusFlags::SERVER_STATUS_IN_TRANS)
            })
            .unwrap_or(self.tx_hint)
    }

    /// Why the handle will not move on its own, if it will not: session state that cannot
    /// move to another host.
    pub fn pinned_by(&self) -> Option<&'static str> {
        self.pinned
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
    pub async fn start_transaction(&mut self, opts: TxOpts) -> Result<LbTransaction<'_>, Error> {
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
        Ok(LbTransaction {
            conn: self,
            done: false,
        })
    }

    /// Closes every physical connection cleanly.
    /// A pooled handle gives its connection back to the pool instead.
    pub async fn disconnect(mut self) {
        if self.pool.is_some() {
            return; // dropped here: back to the pool
        }
        self.closed = true;
        for p in self.conns.iter_mut().filter_map(Option::take) {
            let _ = timeout(self.balancer.opts.ping_timeout, p.conn.disconnect()).await;
        }
    }

    // ---- the statement path ----

    /// Gets the current connection ready for a statement of class `class`.
    pub(crate) async fn begin(&mut self) -> MyResult<Ticket> {
        if self.closed {
            return Err(Error::Closed.into_mysql());
        }
        if let Some(pool) = self.pool.clone()
            && pool.generation() != self.generation
        {
            self.follow_pool(&pool)?;
        }
        let dead = self
            .current_physical_ref()
            .is_some_and(|p| p.conn.is_disconnected());
        if self.flags.in_op.swap(false, Ordering::AcqRel)
            | self.flags.poisoned.swap(false, Ordering::AcqRel)
            || dead
        {
            tracing::debug!("discarding a connection whose last operation did not finish");
            self.discard_current();
        }
        if self.pending_rollback {
            self.pending_rollback = false;
            if let Some(p) = self.current_physical()
                && p.conn.query_drop("ROLLBACK").await.is_err()
            {
                self.discard_current();
            }
            self.tx_hint = false;
        }
        if self.refresh_session {
            self.refresh_session = false;
            self.read_back_session().await;
        }
        if self.rebalance_due && self.current.is_some() && self.may_move() {
            self.rebalance_due = false;
            self.statements_since_switch = 0;
            self.current = None;
        }
        if let Some(i) = self.current
            && self.needs_ping(i)
            && !self.ping_physical(i).await
        {
            self.discard_current();
        }
        if self.current.is_none() {
            self.select().await.map_err(Error::into_mysql)?;
        }
        let host = self.current.unwrap_or_default();
        let in_tx = self.in_transaction();
        self.flags.in_op.store(true, Ordering::Release);
        Ok(Ticket {
            host,
            in_tx,
            started: Instant::now(),
            _in_flight: self.balancer.hosts[host].stats.start(),
        })
    }

    /// Records the outcome of a statement and decides whether it runs again.
    pub(crate) async fn finish<T>(
        &mut self,
        ticket: Ticket,
        class: &Class,
        sql: &[u8],
        retry_allowed: bool,
        result: MyResult<T>,
    ) -> Step<T> {
        self.flags.in_op.store(false, Ordering::Release);
        match result {
            Ok(v) => {
                let stats = &self.balancer.hosts[ticket.host].stats;
                stats.observe(ticket.started.elapsed(), self.balancer.opts.latency_decay);
                if let Some(p) = self.conns[ticket.host].as_mut() {
                    p.last_used = Instant::now();
                    p.dirty |= class.kind == Kind::Session || class.pins.is_some();
                }
                self.note_statement(class, sql);
                if matches!(class.kind, Kind::Other | Kind::Commit) {
                    self.after_write(ticket.host).await;
                }
                if self.refresh_session {
                    self.refresh_session = false;
                    self.read_back_session().await;
                }
                Step::Done(Ok(v))
            }
            Err(e) => {
                let disconnected = self.conns[ticket.host]
                    .as_ref()
                    .is_none_or(|p| p.conn.is_disconnected());
                if let Some(pool) = &self.pool
                    && matches!(&e, mysql_async::Error::Server(se) if se.code == 1290 || se.code == 1836)
                {
                    pool.read_only_seen();
                }
                match judge(&self.balancer, &ticket, disconnected, e) {
                    Judged::Keep(e) => Step::Done(Err(e)),
                    Judged::Lost(e) => {
                        let host = self.balancer.addr(ticket.host);
                        if let Some(pool) = &self.pool
                            && self.balancer.blacklist.contains(host)
                        {
                            pool.host_failed(host);
                        }
                        let pinned = self.pinned.take();
                        self.discard_current();
                        if ticket.in_tx {
                            self.tx_hint = false;
                            return Step::Done(Err(Error::TransactionLost {
                                host: self.balancer.addr(ticket.host).clone(),
                                cause: Box::new(e),
                            }
                            .into_mysql()));
                        }
                        if let Some(what) = pinned {
                            return Step::Done(Err(Error::SessionLost {
                                host: self.balancer.addr(ticket.host).clone(),
                                what,
                                cause: Box::new(e),
                            }
                            .into_mysql()));
                        }
                        if class.retryable() {
                            if retry_allowed && self.balancer.opts.retry_reads {
                                tracing::info!(host = %self.balancer.addr(ticket.host), error = %e, "read retried on another host");
                                return Step::Retry;
                            }
                            return Step::Done(Err(e));
                        }
                        Step::Done(Err(Error::WriteNotRetried {
                            host: self.balancer.addr(ticket.host).clone(),
                            cause: Box::new(e),
                        }
                        .into_mysql()))
                    }
                }
            }
        }
    }

    /// The bookkeeping a successful statement causes (done before the call for streaming
    /// results, whose completion the handle does not see).
    fn note_statement(&mut self, class: &Class, sql: &[u8]) {
        match class.kind {
            Kind::Begin => self.tx_hint = true,
            Kind::Commit | Kind::Rollback => {
                self.tx_hint = false;
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
    fn detach(&self, ticket: Ticket, class: Class) -> Detached {
        Detached {
            balancer: self.balancer.clone(),
            flags: self.flags.clone(),
            ticket,
            class,
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
        self.conns[i].as_mut()
    }

    fn current_physical_ref(&self) -> Option<&Physical> {
        let i = self.current?;
        self.conns[i].as_ref()
    }

    /// The current `Conn`. Only called after `begin` succeeded.
    pub(crate) fn conn_mut(&mut self) -> MyResult<&mut Conn> {
        self.current_physical()
            .map(|p| &mut p.conn)
            .ok_or_else(|| Error::Closed.into_mysql())
    }

    /// The statement bound and the host to name if it passes (`None`: unbounded, and no
    /// host name is cloned on the hot path).
    pub(crate) fn statement_bound(&self) -> Option<(Duration, HostAddr)> {
        self.balancer
            .opts
            .socket_timeout
            .map(|d| (d, self.current_addr()))
    }

    pub(crate) fn current_addr(&self) -> HostAddr {
        self.current
            .map(|i| self.balancer.addr(i).clone())
            .unwrap_or_else(|| self.balancer.addr(0).clone())
    }

    /// Drops the current connection; its prepared statements become stale.
    fn discard_current(&mut self) {
        if let Some(i) = self.current.take()
            && let Some(p) = self.conns[i].take()
        {
            self.mark_stale(i, &p);
            // Dropping a Conn spawns its disconnect; a dead one just closes.
            drop(p);
        }
        self.tx_hint = false;
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
    }

    fn needs_ping(&self, i: usize) -> bool {
        self.conns[i]
            .as_ref()
            .is_some_and(|p| p.last_used.elapsed() >= self.balancer.opts.idle_ping_after)
    }

    /// Pings host `i`'s connection, bounded. A failure is not the host's fault (an idle
    /// connection may have been closed by `wait_timeout` or `KILL`): no blacklisting here.
    async fn ping_physical(&mut self, i: usize) -> bool {
        let bound = self.balancer.opts.ping_timeout;
        let Some(p) = self.conns[i].as_mut() else {
            return false;
        };
        let ok = matches!(timeout(bound, p.conn.ping()).await, Ok(Ok(())));
        if ok {
            p.last_used = Instant::now();
        }
        ok
    }

    /// Picks a host and makes its connection current: a kept connection if the handle has
    /// one there (pinged if idle), else a new one. Switches at once past failing hosts.
    async fn select(&mut self) -> Result<(), Error> {
        let balancer = self.balancer.clone();
        let all: Vec<usize> = (0..balancer.hosts.len()).collect();
        // The strategy picks once; a kept connection to its pick is used without a connect.
        let first = balancer.pick(&all, &[]);
        if let Some(i) = first
            && self.conns[i].is_some()
        {
            if !self.needs_ping(i) || self.ping_physical(i).await {
                return self.make_current(i).await;
            }
            self.conns[i] = None;
        }
        if let Some(pool) = self.pool.clone() {
            return self.select_pooled(&pool, first).await;
        }
        let wanted = self.wanted.clone();
        let ping_timeout = balancer.opts.ping_timeout;
        let validate = balancer.opts.validate_on_swap;
        let conns = &mut self.conns;
        let (i, physical) = balancer
            .establish(first, &all, |i| {
                let kept = conns[i].take();
                let opts = balancer.opts.mysql_opts(balancer.addr(i));
                let wanted = wanted.clone();
                async move {
                    if let Some(mut p) = kept {
                        let fresh = !validate;
                        if fresh || matches!(timeout(ping_timeout, p.conn.ping()).await, Ok(Ok(())))
                        {
                            return Ok(p);
                        }
                    }
                    let mut conn = Conn::new(opts).await?;
                    wanted.apply(&mut conn, &SessionState::default()).await?;
                    Ok(Physical::new(conn, wanted, None))
                }
            })
            .await?;
        self.conns[i] = Some(physical);
        self.make_current(i).await
    }

    async fn make_current(&mut self, i: usize) -> Result<(), Error> {
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
        self.current = Some(i);
        self.statements_since_switch = 0;
        if self.pool.is_some() {
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
        let ticket = self.begin().await.map_err(Error::Mysql)?;
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
        match self.finish(ticket, &Class::OPAQUE, b"", false, r).await {
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

    /// Refuses a `Statement` while statements of a lost connection may still be around:
    /// their ids could name a different statement on the new connection.
    pub(crate) fn check_stale<S>(&self) -> MyResult<()> {
        let name = std::any::type_name::<S>();
        let is_statement = name
            .trim_start_matches('&')
            .ends_with("mysql_async::queryable::stmt::Statement");
        match self.stale_stmts.first() {
            Some((on, _, _)) if is_statement => Err(Error::StaleStatement {
                prepared_on: on.clone(),
                now_on: self.current_addr(),
            }
            .into_mysql()),
            _ => Ok(()),
        }
    }
}

/// A failure judged: keep the connection (an ordinary SQL error) or it is lost.
enum Judged {
    Keep(mysql_async::Error),
    Lost(mysql_async::Error),
}

fn judge(
    balancer: &Balancer,
    ticket: &Ticket,
    disconnected: bool,
    e: mysql_async::Error,
) -> Judged {
    let host_fault = balancer.is_host_failure(&e);
    if host_fault {
        tracing::warn!(host = %balancer.addr(ticket.host), error = %e, "host failed");
        balancer.mark_failed(ticket.host, &e);
    }
    let broken = matches!(
        e,
        mysql_async::Error::Io(_)
            | mysql_async::Error::Driver(mysql_async::DriverError::ConnectionClosed)
    ) || matches!(Error::from_mysql(&e), Some(Error::Timeout { .. }));
    if host_fault || disconnected || broken {
        Judged::Lost(e)
    } else {
        Judged::Keep(e)
    }
}

/// The failure path for streaming results (see [`LoadBalancedConnection::detach`]).
pub(crate) struct Detached {
    balancer: Arc<Balancer>,
    flags: Arc<OpFlags>,
    ticket: Ticket,
    class: Class,
}

impl Detached {
    pub(crate) fn succeeded(self) {
        self.flags.in_op.store(false, Ordering::Release);
        self.balancer.hosts[self.ticket.host].stats.observe(
            self.ticket.started.elapsed(),
            self.balancer.opts.latency_decay,
        );
    }

    pub(crate) fn failed(self, e: mysql_async::Error, disconnected: bool) -> mysql_async::Error {
        self.flags.in_op.store(false, Ordering::Release);
        match judge(&self.balancer, &self.ticket, disconnected, e) {
            Judged::Keep(e) => e,
            Judged::Lost(e) => {
                self.flags.poisoned.store(true, Ordering::Release);
                let host = self.balancer.addr(self.ticket.host).clone();
                if self.ticket.in_tx {
                    Error::TransactionLost {
                        host,
                        cause: Box::new(e),
                    }
                    .into_mysql()
                } else if self.class.retryable() {
                    e
                } else {
                    Error::WriteNotRetried {
                        host,
                        cause: Box::new(e),
                    }
                    .into_mysql()
                }
            }
        }
    }
}

/// A transaction on a [`LoadBalancedConnection`]. Statements run through it (it dereferences
/// to the connection). Dropped without `commit` or `rollback`, it is rolled back before the
/// connection's next statement.
pub struct LbTransaction<'a> {
    conn: &'a mut LoadBalancedConnection,
    done: bool,
}

impl LbTransaction<'_> {
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

impl std::ops::Deref for LbTransaction<'_> {
    type Target = LoadBalancedConnection;
    fn deref(&self) -> &LoadBalancedConnection {
        self.conn
    }
}

impl std::ops::DerefMut for LbTransaction<'_> {
    fn deref_mut(&mut self) -> &mut LoadBalancedConnection {
        self.conn
    }
}

impl Drop for LbTransaction<'_> {
    fn drop(&mut self) {
        if !self.done && self.conn.in_transaction() {
            self.conn.pending_rollback = true;
        }
    }
}
