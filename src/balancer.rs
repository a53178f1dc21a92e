//! Picking a host and getting a working connection to it, switching at once on failure.
//!
//! This is the fix the project exists for. Connector/J with `autoReconnect` sleeps inside the
//! driver between reconnect attempts to a dead host while healthy hosts sit idle. Here a
//! failed attempt blacklists the host (process-wide) and the next candidate is tried at once:
//!
//! 1. Candidates are the hosts not tried yet in this call and not blacklisted (an expired
//!    entry counts as a candidate; the blacklist admits one probe to it at a time).
//! 2. The strategy picks one; the attempt is bounded by `connect_timeout` (if it is slow, the
//!    next one starts beside it: see below).
//! 3. Success takes the host off the blacklist. A failure the exception checker blames on the
//!    host blacklists it and goes back to 1. Any other failure (a bad password: every host
//!    would say the same) is returned at once, and no host is blacklisted.
//! 4. When no candidate is left, the blacklisted hosts are tried too, soonest-expiring first,
//!    still without sleeping; then the caller gets one error listing every host and why.
//!
//! Attempts are staggered, as RFC 8305 (Happy Eyeballs v2) staggers connects to a name's
//! addresses: a failure moves on at once, but a host that is merely *slow* to answer is not
//! waited for either. A stopped server (SIGSTOP, a hung `mysqld`, a full accept queue) lets
//! the kernel complete the TCP handshake and then sends no greeting, so without staggering
//! every connect would wait the whole `connect_timeout` there before trying the next host.
//! When an attempt has not finished within its stagger delay, the next candidate (in the
//! same order, admitted the same way) starts beside it, without cancelling it; the first to
//! succeed wins and the others are dropped (their sockets closed). A dropped attempt counts
//! as neither success nor failure: it is not blacklisted (a debug event names it). A failure
//! still blacklists its host and starts the next candidate at once; an error that is not the
//! host's still ends the call at once, dropping whatever else is running. Each attempt keeps
//! its own `connect_timeout`.
//!
//! The stagger delay is 4 times the host's typical connect time (a decaying average of its
//! successful connects, kept per host for the whole process; for a host never connected to,
//! the slowest other host's), at least 50 ms, at most the attempt's bound, and 250 ms (RFC
//! 8305's recommended Connection Attempt Delay) before anything is known. Constants, not
//! options: the rule adapts to the network by itself, and `connect_timeout` still bounds
//! every attempt.
//!
//! A failed *connect* is evidence about the host and blacklists it at once. A connection that
//! fails mid-statement is evidence about that connection first: the server may have killed it
//! (`KILL CONNECTION`, `wait_timeout`), or a slow statement ran past `socket_timeout` on a
//! healthy server. Blacklisting the host for the whole process on such evidence would take
//! healthy servers out of rotation, so [`Balancer::confirm_failure`] checks with one bounded
//! connect in the background and blacklists only if that fails too; meanwhile the handle that
//! lost the connection tries other hosts first. Nobody waits for the check. An error packet
//! that says the server cannot serve (shutting down) is the server's own word and is not
//! checked again.
//!
//! A [`Balancer`] holds what a group of handles shares: the options, the strategy instance,
//! the checker, the blacklist and each host's stats. Pools and connections both use it.

use std::future::{Future, poll_fn};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::task::Poll;
use std::time::Duration;

use dashmap::DashMap;
use tokio::time::{Instant, timeout};

use crate::blacklist::{Admission, Blacklist};
use crate::checker::{ExceptionChecker, StandardChecker};
use crate::dial::Dialer;
use crate::error::{Error, HostFailures, READ_ONLY_CODES, is_read_only_refusal};
use crate::hedge::HedgeBudget;
use crate::opts::{HostAddr, HostSpec, LbOpts, StrategyChoice};
use crate::stats::HostStats;
use crate::strategy::{BalanceStrategy, Candidate, Candidates, HostList};

/// One configured host and its shared stats.
pub(crate) struct Host {
    pub spec: HostSpec,
    pub stats: Arc<HostStats>,
    /// How connections to this host are opened (options built once).
    dialer: Arc<Dialer>,
    /// A confirming connect (see [`Balancer::confirm_failure`]) is under way.
    checking: AtomicBool,
    /// How long connects to this host take (shared by every balancer in the process).
    connect_time: Arc<ConnectTime>,
}

/// With hosts on the blacklist, the strategy first picks among all hosts and a blocked pick
/// is drawn again, up to this many times, before the open hosts are listed: a pick then
/// costs a few lookups, not one per host (a strategy that keeps choosing a blocked host,
/// such as `sequential` with its first host down, ends up at the list).
const REJECTION_TRIES: usize = 4;

/// How often handles pick again while one of their hosts' blacklist entries has expired and
/// nobody has probed the host (see [`Balancer::blacklist_watch`]).
const RECHECK: Duration = Duration::from_millis(100);

/// An attempt that has not finished within this many typical connect times has company.
const STAGGER_FACTOR: u32 = 4;
/// The shortest stagger delay: a host that answers in a millisecond is not raced after 4 ms
/// (a scheduling hiccup, a busy server).
const STAGGER_FLOOR: Duration = Duration::from_millis(50);
/// The stagger delay before any connect time is known (RFC 8305's recommended Connection
/// Attempt Delay).
const STAGGER_DEFAULT: Duration = Duration::from_millis(250);

/// A decaying average of a host's successful connect times (weight 1/4 for the newest), in
/// nanoseconds; 0 before the first.
#[derive(Debug, Default)]
struct ConnectTime(AtomicU64);

/// Connect times by host, process-wide like [`HostStats`]: a handle opened per request
/// starts from what earlier handles saw.
static CONNECT_TIMES: LazyLock<DashMap<HostAddr, Arc<ConnectTime>>> = LazyLock::new(DashMap::new);

impl ConnectTime {
    fn of(addr: &HostAddr) -> Arc<ConnectTime> {
        if let Some(t) = CONNECT_TIMES.get(addr) {
            return t.clone();
        }
        CONNECT_TIMES.entry(addr.clone()).or_default().clone()
    }

    fn record(&self, took: Duration) {
        let x = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX).max(1);
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |old| {
                Some(if old == 0 { x } else { old - old / 4 + x / 4 }.max(1))
            });
    }

    fn get(&self) -> Option<Duration> {
        match self.0.load(Ordering::Acquire) {
            0 => None,
            n => Some(Duration::from_nanos(n)),
        }
    }
}

/// Where a round of [`Balancer::establish`] is in the candidates' order.
struct Order {
    /// Hosts started in phase 1 (and `avoid`).
    tried: Vec<usize>,
    /// Phase 2's hosts not started yet, once phase 1 has no more.
    rest: Option<std::vec::IntoIter<usize>>,
}

/// Told when a host is confirmed down (a pool drops its idle connections there).
pub(crate) type HostDown = Arc<dyn Fn(&HostAddr) + Send + Sync>;

/// What a group of handles shares.
pub struct Balancer {
    pub(crate) opts: LbOpts,
    pub(crate) hosts: Vec<Host>,
    pub(crate) strategy: Arc<dyn BalanceStrategy>,
    pub(crate) checker: Arc<dyn ExceptionChecker>,
    pub(crate) blacklist: Arc<Blacklist>,
    /// Each host's index, by address.
    positions: std::collections::HashMap<HostAddr, usize>,
    /// Bounds the hedged reads of every handle over these hosts.
    pub(crate) hedges: HedgeBudget,
    /// Hedges sent, and how many answered first.
    pub(crate) hedge_counts: [std::sync::atomic::AtomicU64; 2],
    /// Itself, for the background checks that `&self` methods start.
    me: std::sync::Weak<Balancer>,
}

impl std::fmt::Debug for Balancer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Balancer")
            .field(
                "hosts",
                &self.hosts.iter().map(|h| &h.spec.addr).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Balancer {
    /// A balancer over `opts`' hosts using the process-wide blacklist.
    pub fn new(opts: LbOpts) -> Arc<Balancer> {
        Balancer::with_blacklist(opts, Blacklist::global())
    }

    /// A balancer with its own blacklist (tests; isolated groups).
    pub fn with_blacklist(opts: LbOpts, blacklist: Arc<Blacklist>) -> Arc<Balancer> {
        let hosts = opts
            .hosts
            .iter()
            .map(|spec| Host {
                spec: spec.clone(),
                stats: HostStats::of(&spec.addr),
                dialer: Arc::new(Dialer::new(&opts, &spec.addr)),
                checking: AtomicBool::new(false),
                connect_time: ConnectTime::of(&spec.addr),
            })
            .collect();
        let positions = opts
            .hosts
            .iter()
            .enumerate()
            .map(|(i, h)| (h.addr.clone(), i))
            .collect();
        Arc::new_cyclic(|me| Balancer {
            me: me.clone(),
            positions,
            hedges: HedgeBudget::new(opts.hedge_budget),
            hedge_counts: Default::default(),
            strategy: strategy_of(&opts),
            checker: checker_of(&opts),
            hosts,
            blacklist,
            opts,
        })
    }

    /// The options.
    pub fn opts(&self) -> &LbOpts {
        &self.opts
    }

    /// The blacklist in use.
    pub fn blacklist(&self) -> &Arc<Blacklist> {
        &self.blacklist
    }

    /// A plain `mysql_async::Conn` to a host the strategy picks, for crates that take one
    /// (bb8, deadpool, diesel-async): the blacklist is honoured, each host tried is bounded by
    /// `connect_timeout`, a host the exception checker blames is blacklisted and the next one
    /// tried at once, as [`crate::LoadBalancedConnection`] does when it connects. In a
    /// replication URL the sources are the candidates.
    ///
    /// What it does not do: after this call the connection is the caller's, and nothing
    /// watches it. A statement that fails on it is not retried, a transaction it loses is not
    /// reported as lost, a host that dies under it is blacklisted only when the next
    /// connect fails, no `socket_timeout` applies, and no statistics are kept for the
    /// response-time strategies. Failover happens at the next connect (a pool's next
    /// checkout), never in the middle of a statement.
    pub async fn connect(&self) -> Result<mysql_async::Conn, Error> {
        // In a replication URL, the sources (a plain connection may write); a balancer over
        // replicas only (a reader pool's) picks among them.
        let sources: Vec<usize> = (0..self.hosts.len())
            .filter(|&i| self.hosts[i].spec.role != crate::opts::Role::Replica)
            .collect();
        let among = if sources.is_empty() {
            (0..self.hosts.len()).collect()
        } else {
            sources
        };
        let (_, conn) = self.establish(None, &among, None, |i| self.dial(i)).await?;
        Ok(conn)
    }

    /// A plain connection to one given host, whatever the strategy and the blacklist say (an
    /// operator's tool asking each host about itself): the connect hook, TLS as configured,
    /// bounded like every connect. Nothing is recorded about the host.
    pub async fn connect_host(&self, host: &HostAddr) -> Result<mysql_async::Conn, Error> {
        let Some(i) = self.index_of(host) else {
            return Err(Error::NoHostForRole {
                role: "named",
                reason: format!("{host} is not one of this balancer's hosts"),
            });
        };
        self.dial(i).await.map_err(Error::from_mysql_owned)
    }

    /// Checks one host now, for an operator's tool that watches hosts (`mysql-lb status
    /// --watch`): a bounded connect and ping. A failure the checker blames on the host
    /// blacklists it (subscribers hear `HostBlacklisted`), a success takes it off
    /// (`HostBack`). Returns the round trip of the ping, or the error.
    pub async fn check_host(&self, host: &HostAddr) -> Result<std::time::Duration, Error> {
        let Some(i) = self.index_of(host) else {
            return self
                .connect_host(host)
                .await
                .map(|_| std::time::Duration::ZERO);
        };
        match self.probe(i).await {
            Ok(rtt) => {
                self.blacklist.remove(host);
                Ok(rtt)
            }
            Err(e) => {
                if self.is_host_failure(&e) {
                    self.mark_failed(i, &e);
                }
                Err(Error::from_mysql_owned(e))
            }
        }
    }

    /// Host `i`'s position among these hosts' addresses.
    fn index_of(&self, host: &HostAddr) -> Option<usize> {
        self.positions.get(host).copied()
    }

    /// When a handle that picks now should pick again because of the blacklist: when the
    /// soonest entry of one of these hosts expires, or, for an entry that has expired and
    /// whose host nobody has probed yet, [`RECHECK`] from now (so that some handle picks
    /// the host and becomes its probe). `None`: none of these hosts is on the list. Reads the
    /// list's entries (a few, in an outage); asked when a handle picks, not per statement.
    pub(crate) fn blacklist_watch(&self, now: Instant) -> Option<Instant> {
        self.blacklist
            .expiries()
            .into_iter()
            .filter(|(addr, _)| self.positions.contains_key(addr))
            .map(|(_, until)| if until > now { until } else { now + RECHECK })
            .min()
    }

    /// One new connection to host `i` and a ping on it, each bounded: the ping's round trip,
    /// or why not. The connection is closed after.
    async fn probe(&self, i: usize) -> mysql_async::Result<Duration> {
        let mut conn = self.dial(i).await?;
        let bound = self.opts.ping_timeout;
        let start = tokio::time::Instant::now();
        match timeout(bound, mysql_async::prelude::Queryable::ping(&mut conn)).await {
            Ok(r) => r.map(|()| start.elapsed()),
            Err(_) => Err(Error::Timeout {
                host: self.addr(i).clone(),
                step: "ping",
                after: bound,
            }
            .into_mysql()),
        }
    }

    /// Tells the balancer that a connection from [`Balancer::connect`] to `host` failed with
    /// `err` (a failed statement or validation ping in a pool of plain connections). If the
    /// exception checker blames the host, it is checked with one bounded connect in the
    /// background and blacklisted if that fails too, as for a [`crate::LoadBalancedConnection`]'s
    /// own connections; returns whether the checker blamed it. Never waits.
    pub fn report_failure(self: &Arc<Self>, host: &HostAddr, err: &mysql_async::Error) -> bool {
        let Some(i) = self.index_of(host) else {
            return false;
        };
        let blamed = self.is_host_failure(err);
        if blamed {
            self.confirm_failure(i, err, None);
        }
        blamed
    }

    /// Reads hedged by handles over this balancer, and how many of those hedges answered
    /// first (for benchmarks and dashboards).
    pub fn hedges(&self) -> (u64, u64) {
        let [sent, won] = &self.hedge_counts;
        (sent.load(Ordering::Relaxed), won.load(Ordering::Relaxed))
    }

    /// The address of host `i`.
    pub(crate) fn addr(&self, i: usize) -> &HostAddr {
        &self.hosts[i].spec.addr
    }

    /// Opens a new connection to host `i`: the connect hook, TLS as configured, bounded (see
    /// `dial.rs`). The returned future owns what it needs.
    pub(crate) fn dial(
        &self,
        i: usize,
    ) -> impl Future<Output = mysql_async::Result<mysql_async::Conn>> + Send + 'static + use<> {
        let this = self.hosts[i].dialer.clone();
        let connect_time = self.hosts[i].connect_time.clone();
        async move {
            let started = Instant::now();
            let conn = this.dial().await?;
            connect_time.record(started.elapsed());
            Ok(conn)
        }
    }

    /// Whether the checker blames `err` on the host.
    pub(crate) fn is_host_failure(&self, err: &mysql_async::Error) -> bool {
        self.checker.is_host_failure(err)
    }

    /// Blacklists host `i` for the configured time and counts the failure.
    pub(crate) fn mark_failed(&self, i: usize, why: &mysql_async::Error) {
        self.hosts[i].stats.record_error();
        self.blacklist
            .add(self.addr(i), self.opts.blacklist_timeout, describe(why));
    }

    /// A connection to host `i` failed mid-statement (`why`): counts the error and checks the
    /// host with one connect in the background, bounded by `connect_timeout`; only if that
    /// fails too is the host blacklisted (and `down` told). Returns at once. One check per
    /// host at a time; none while the host is blacklisted already.
    pub(crate) fn confirm_failure(
        self: &Arc<Self>,
        i: usize,
        why: &mysql_async::Error,
        down: Option<HostDown>,
    ) {
        self.hosts[i].stats.record_error();
        self.check_in_background(i, why.to_string(), down);
    }

    /// One bounded connect to host `i` in the background; the host is blacklisted (and
    /// `down` told) only if that fails too. One check per host at a time; none while it is
    /// blacklisted already. `why`: what made it suspect.
    fn check_in_background(self: &Arc<Self>, i: usize, why: String, down: Option<HostDown>) {
        if self.opts.blacklist_timeout.is_zero()
            || self.blacklist.contains(self.addr(i))
            || self.hosts[i].checking.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let addr = this.addr(i).clone();
            let bound = this.hosts[i].dialer.bound();
            let verdict = match timeout(bound, this.dial(i)).await {
                Ok(Ok(conn)) => {
                    let _ = timeout(this.opts.ping_timeout, conn.disconnect()).await;
                    None
                }
                Ok(Err(e)) if this.is_host_failure(&e) => Some(e.to_string()),
                Ok(Err(_)) => None, // the host answered (e.g. a refused login): not down
                Err(_) => Some(format!("no greeting within {bound:?}")),
            };
            if let Some(then) = verdict {
                tracing::warn!(host = %addr, error = %why, check = %then, "host failed");
                this.blacklist.add(
                    &addr,
                    this.opts.blacklist_timeout,
                    format!("{why}; a new connection failed too: {then}"),
                );
                if let Some(down) = down {
                    down(&addr);
                }
            } else {
                tracing::debug!(host = %addr, error = %why, "a connection failed; the host is fine");
            }
            this.hosts[i].checking.store(false, Ordering::Release);
        });
    }

    /// Host `i` lost a hedge (another host answered a read first while `i` sat on it): new
    /// picks avoid it at once (it goes on the blacklist), and one bounded connect and ping in
    /// the background takes it off again if it answers, so a host that was merely slow once
    /// is back within a round trip and a hung one stays out. Never waits.
    pub(crate) fn suspect(self: &Arc<Self>, i: usize, why: String) {
        if self.opts.blacklist_timeout.is_zero()
            || self.blacklist.contains(self.addr(i))
            || self.hosts[i].checking.swap(true, Ordering::AcqRel)
        {
            return;
        }
        self.blacklist
            .add(self.addr(i), self.opts.blacklist_timeout, why);
        let this = self.clone();
        tokio::spawn(async move {
            // `probe` bounds both steps.
            if this.probe(i).await.is_ok() {
                this.blacklist.remove(this.addr(i));
            }
            this.hosts[i].checking.store(false, Ordering::Release);
        });
    }

    /// Picks among `among` (host indices; `None`: all) by the strategy, skipping blacklisted
    /// hosts and those in `exclude`. `None` when no host is available. With nothing
    /// blacklisted and nothing excluded (a healthy cluster), the strategy reads the hosts in
    /// place: the cost does not grow with their number.
    pub(crate) fn pick(&self, among: Option<&[usize]>, exclude: &[usize]) -> Option<usize> {
        if exclude.is_empty() {
            if self.blacklist.is_empty() {
                return self.choose_in(among);
            }
            for _ in 0..REJECTION_TRIES {
                let i = self.choose_in(among)?;
                if !self.blacklist.contains(self.addr(i)) {
                    return Some(i);
                }
            }
        }
        let open: Vec<usize> = self
            .among(among)
            .filter(|i| !exclude.contains(i) && !self.blacklist.contains(self.addr(*i)))
            .collect();
        (!open.is_empty()).then(|| self.choose(&open))
    }

    /// The host the strategy picks now, honouring the blacklist as a connect does: a host
    /// whose entry has expired may be picked, and then this caller is its single probe (and
    /// should report the outcome through [`Blacklist::remove`] or [`Blacklist::add`]). A
    /// connect does all this itself; this is for simulators and benchmarks of the picking
    /// alone. `None`: every host is blacklisted.
    pub fn pick_host(&self) -> Option<&HostAddr> {
        self.pick_admitted(None, &[]).map(|i| self.addr(i))
    }

    /// The strategy's choice among `among` (`None`: all), everything admitted.
    fn choose_in(&self, among: Option<&[usize]>) -> Option<usize> {
        match among {
            None if self.hosts.is_empty() => None,
            None => Some(self.strategy.pick(&Candidates::all(self, self.hosts.len()))),
            Some([]) => None,
            Some(open) => Some(self.choose(open)),
        }
        .map(|i| i.min(self.hosts.len().saturating_sub(1)))
    }

    /// The host indices of `among` (`None`: all).
    fn among<'a>(&self, among: Option<&'a [usize]>) -> impl Iterator<Item = usize> + 'a {
        let all = 0..if among.is_none() { self.hosts.len() } else { 0 };
        among.unwrap_or_default().iter().copied().chain(all)
    }

    /// Runs `attempt` on hosts chosen by the strategy until one succeeds, as the module docs
    /// describe. `first`: a host the strategy already picked for this call, tried first (so
    /// that a stateful strategy such as `roundRobin` is not asked twice). `avoid`: a host
    /// under suspicion (see [`Balancer::confirm_failure`]), tried only when every other host
    /// has failed. Each attempt is bounded by `connect_timeout`; an attempt that has not
    /// finished within its stagger delay (see [`Balancer::stagger_delay`]) gets company: the
    /// next candidate starts beside it, and the first to succeed wins. Never sleeps.
    pub(crate) async fn establish<T, F, Fut>(
        &self,
        first: Option<usize>,
        among: &[usize],
        avoid: Option<usize>,
        mut attempt: F,
    ) -> Result<(usize, T), Error>
    where
        F: FnMut(usize) -> Fut,
        Fut: Future<Output = mysql_async::Result<T>>,
    {
        let mut failures = HostFailures::default();
        let mut first = first.filter(|i| among.contains(i) && Some(*i) != avoid);
        // One attempt on host `i`, bounded by its dialer's bound. Every call gives the same
        // type, so the running attempts fit in one `Vec`.
        let bounded = |i: usize, fut: Fut| {
            let bound = self.hosts[i].dialer.bound();
            let host = self.addr(i).clone();
            Box::pin(async move {
                match timeout(bound, fut).await {
                    Ok(r) => r,
                    Err(_) => Err(Error::Timeout {
                        host,
                        step: "connect",
                        after: bound,
                    }
                    .into_mysql()),
                }
            })
        };
        for _round in 0..self.opts.retries_all_down.max(1) {
            let mut order = Order {
                tried: avoid.into_iter().collect(),
                rest: None,
            };
            // The attempts under way: host, start, future.
            let mut running = Vec::new();
            // Starts the next candidate beside them when it fires (if armed) before any of
            // them finishes.
            let mut stagger = std::pin::pin!(tokio::time::sleep(Duration::ZERO));
            // Around this loop once per start: at first, when the stagger delay passed, and
            // when an attempt failed (the next one starts at once, as it would without
            // staggering).
            loop {
                let mut armed = false;
                if let Some(i) = self.next_candidate(&mut first, among, avoid, &mut order) {
                    let now = Instant::now();
                    if !running.is_empty() {
                        tracing::debug!(
                            host = %self.addr(i),
                            running = running.len(),
                            "connect attempt staggered: the one under way is slow"
                        );
                    }
                    running.push((i, now, bounded(i, attempt(i))));
                    stagger.as_mut().reset(now + self.stagger_delay(i));
                    armed = true;
                }
                if running.is_empty() {
                    break; // every candidate of this round failed
                }
                let finished = poll_fn(|cx| {
                    // Attempts first: one that finishes at the stagger time is not joined.
                    for (k, (_, _, fut)) in running.iter_mut().enumerate() {
                        if let Poll::Ready(r) = fut.as_mut().poll(cx) {
                            return Poll::Ready(Some((k, r)));
                        }
                    }
                    if armed && stagger.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(None);
                    }
                    Poll::Pending
                })
                .await;
                let Some((k, result)) = finished else {
                    continue; // the stagger delay passed
                };
                let (i, _, _) = running.remove(k);
                match result {
                    Ok(t) => {
                        self.blacklist.remove(self.addr(i));
                        self.drop_attempts(&running, i);
                        return Ok((i, t));
                    }
                    Err(e) if self.is_host_failure(&e) => {
                        self.mark_failed(i, &e);
                        failures.0.push((self.addr(i).clone(), describe(&e)));
                    }
                    Err(e) => {
                        self.drop_attempts(&running, i);
                        return Err(Error::from_mysql_owned(e));
                    }
                }
            }
        }
        Err(Error::AllHostsFailed(failures))
    }

    /// The next host to try in this round, or `None` when the round has no more: phase 1,
    /// the hosts the blacklist lets through in the strategy's order (`first` before them);
    /// then phase 2, everything else, soonest-expiring blacklist entry first and `avoid`
    /// last. Asked only when an attempt is about to start, so that a probe slot is claimed
    /// only for a probe that happens.
    fn next_candidate(
        &self,
        first: &mut Option<usize>,
        among: &[usize],
        avoid: Option<usize>,
        order: &mut Order,
    ) -> Option<usize> {
        if order.rest.is_none() {
            if let Some(i) = first
                .take()
                .filter(|&i| self.admitted(i))
                .or_else(|| self.pick_admitted(Some(among), &order.tried))
            {
                order.tried.push(i);
                return Some(i);
            }
            let mut rest: Vec<usize> = among
                .iter()
                .copied()
                .filter(|&i| !order.tried.contains(&i) || Some(i) == avoid)
                .collect();
            rest.sort_by_key(|&i| (Some(i) == avoid, self.blacklist.expiry(self.addr(i))));
            order.rest = Some(rest.into_iter());
        }
        order.rest.as_mut()?.next()
    }

    /// How long an attempt on host `i` may run before the next candidate starts beside it:
    /// [`STAGGER_FACTOR`] times the typical connect time (host `i`'s own, else the slowest
    /// of the other hosts', else [`STAGGER_DEFAULT`]'s worth), at least [`STAGGER_FLOOR`],
    /// at most the attempt's bound.
    fn stagger_delay(&self, i: usize) -> Duration {
        let typical = self.hosts[i]
            .connect_time
            .get()
            .or_else(|| self.hosts.iter().filter_map(|h| h.connect_time.get()).max());
        let delay = typical.map_or(STAGGER_DEFAULT, |t| {
            t.saturating_mul(STAGGER_FACTOR).max(STAGGER_FLOOR)
        });
        delay.min(self.hosts[i].dialer.bound())
    }

    /// Drops the attempts still running once host `winner` answered (with a connection or
    /// with an error that ends the call). They count as neither success nor failure.
    fn drop_attempts<Fut>(&self, running: &[(usize, Instant, Fut)], winner: usize) {
        for (i, started, _) in running {
            tracing::debug!(
                host = %self.addr(*i),
                after = ?started.elapsed(),
                answered = %self.addr(winner),
                "slow connect attempt dropped: another host answered first"
            );
            // Not judged here, but checked: a hung host is blacklisted once a connect of its
            // own fails too, so that later connects stop paying the stagger delay for it.
            if let Some(this) = self.me.upgrade() {
                let why = format!(
                    "a connect got no greeting within {:?} while {} answered",
                    started.elapsed(),
                    self.addr(winner)
                );
                this.check_in_background(*i, why, None);
            }
        }
    }

    /// Lets the strategy choose among `open` (host indices, not empty).
    fn choose(&self, open: &[usize]) -> usize {
        open[self
            .strategy
            .pick(&Candidates::some(self, open))
            .min(open.len() - 1)]
    }

    /// Whether the blacklist lets a call to host `i` through now (claiming the probe slot of
    /// an expired entry).
    fn admitted(&self, i: usize) -> bool {
        !matches!(
            self.blacklist
                .admit(self.addr(i), self.opts.connect_timeout),
            Admission::Blocked(_)
        )
    }

    /// Like `pick`, but an expired blacklist entry is a candidate, and picking it claims the
    /// single probe slot; a host being probed by someone else is skipped.
    fn pick_admitted(&self, among: Option<&[usize]>, tried: &[usize]) -> Option<usize> {
        if tried.is_empty() {
            if self.blacklist.is_empty() {
                return self.choose_in(among);
            }
            for _ in 0..REJECTION_TRIES {
                let i = self.choose_in(among)?;
                if !matches!(
                    self.blacklist
                        .admit(self.addr(i), self.opts.connect_timeout),
                    Admission::Blocked(_)
                ) {
                    return Some(i);
                }
            }
        }
        let mut skip: Vec<usize> = tried.to_vec();
        loop {
            let open: Vec<usize> = self
                .among(among)
                .filter(|i| {
                    !skip.contains(i)
                        && !matches!(
                            self.blacklist.expiry(self.addr(*i)),
                            Some(t) if t > tokio::time::Instant::now()
                        )
                })
                .collect();
            if open.is_empty() {
                return None;
            }
            let i = self.choose(&open);
            match self
                .blacklist
                .admit(self.addr(i), self.opts.connect_timeout)
            {
                Admission::Open | Admission::Probe => return Some(i),
                Admission::Blocked(_) => skip.push(i),
            }
        }
    }
}

impl HostList for Balancer {
    fn candidate(&self, i: usize) -> Candidate<'_> {
        let h = &self.hosts[i];
        Candidate::new(&h.spec.addr, i, &h.stats).with_slow_start(self.opts.slow_start)
    }
}

/// An error in words: our own errors without mysql_async's "Other error: " in front.
fn describe(e: &mysql_async::Error) -> String {
    Error::from_mysql(e).map_or_else(|| e.to_string(), |ours| ours.to_string())
}

/// The strategy a set of options asks for.
fn strategy_of(opts: &LbOpts) -> Arc<dyn BalanceStrategy> {
    match &opts.strategy {
        StrategyChoice::Named(k) => k.build(&opts.affinity_order),
        StrategyChoice::Custom(s) => s.clone(),
    }
}

/// The checker a set of options asks for: the user's own, or the standard one with extras;
/// with `reject_read_only`, a write refused as read-only counts as the host's failure too.
fn checker_of(opts: &LbOpts) -> Arc<dyn ExceptionChecker> {
    let mut codes = opts.failover_codes.clone();
    if opts.reject_read_only && opts.checker.is_none() {
        codes.extend(READ_ONLY_CODES);
    }
    match &opts.checker {
        Some(c) if opts.reject_read_only => {
            let c = c.clone();
            Arc::new(move |e: &mysql_async::Error| is_read_only_refusal(e) || c.is_host_failure(e))
        }
        Some(c) => c.clone(),
        None => Arc::new(StandardChecker::with_extra(
            opts.failover_sqlstates.clone(),
            codes,
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use mysql_async::{IoError, ServerError};
    use tokio::time::Instant;

    use super::*;

    /// A balancer over `n` hosts with the sequential strategy and a blacklist of its own.
    fn balancer(n: u16, extra: &str) -> Arc<Balancer> {
        let hosts: Vec<String> = (1..=n).map(|p| format!("h{p}:{p}")).collect();
        let url = format!("mysql://u@{}/?strategy=sequential{extra}", hosts.join(","));
        Balancer::with_blacklist(url.parse().unwrap(), Arc::new(Blacklist::new()))
    }

    fn refused() -> mysql_async::Error {
        mysql_async::Error::Io(IoError::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )))
    }

    fn denied() -> mysql_async::Error {
        mysql_async::Error::Server(ServerError {
            code: 1045,
            message: "Access denied".into(),
            state: "28000".into(),
        })
    }

    /// Runs `establish` with attempts that fail on the hosts in `down`; returns the result
    /// and the hosts tried, in order.
    async fn run(
        b: &Balancer,
        first: Option<usize>,
        avoid: Option<usize>,
        down: &[usize],
    ) -> (Result<usize, Error>, Vec<usize>) {
        let tried = Mutex::new(Vec::new());
        let all: Vec<usize> = (0..b.hosts.len()).collect();
        let r = b
            .establish(first, &all, avoid, |i| {
                tried.lock().unwrap().push(i);
                let fail = down.contains(&i);
                async move { if fail { Err(refused()) } else { Ok(()) } }
            })
            .await;
        (r.map(|(i, ())| i), tried.into_inner().unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn the_strategys_pick_is_tried_first() {
        let b = balancer(3, "");
        let (r, tried) = run(&b, Some(2), None, &[]).await;
        assert_eq!(r.unwrap(), 2);
        assert_eq!(tried, [2]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_host_is_blacklisted_and_the_next_tried_at_once() {
        let b = balancer(3, "");
        let t = Instant::now();
        let (r, tried) = run(&b, None, None, &[0, 1]).await;
        assert_eq!(r.unwrap(), 2);
        assert_eq!(tried, [0, 1, 2]);
        assert_eq!(t.elapsed(), Duration::ZERO, "no sleep between hosts");
        assert!(b.blacklist.contains(b.addr(0)) && b.blacklist.contains(b.addr(1)));
        assert!(!b.blacklist.contains(b.addr(2)));
    }

    #[tokio::test(start_paused = true)]
    async fn an_error_that_is_not_the_hosts_stops_at_once() {
        let b = balancer(3, "");
        let all = [0, 1, 2];
        let mut calls = 0;
        let r = b
            .establish(None, &all, None, |_| {
                calls += 1;
                async { Err::<(), _>(denied()) }
            })
            .await;
        assert!(matches!(
            r,
            Err(Error::Mysql(mysql_async::Error::Server(_)))
        ));
        assert_eq!(calls, 1, "a bad password is the same on every host");
        assert!(b.blacklist.snapshot().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn all_down_lists_every_host_once_per_round_without_sleeping() {
        let b = balancer(2, "&retries_all_down=2");
        let t = Instant::now();
        let (r, tried) = run(&b, None, None, &[0, 1]).await;
        let Err(Error::AllHostsFailed(f)) = r else {
            panic!("{r:?}")
        };
        // Round 2 tries the blacklisted hosts soonest-expiring first; expiry is jittered.
        let mut round2 = tried[2..].to_vec();
        round2.sort_unstable();
        assert_eq!((&tried[..2], &round2[..]), (&[0, 1][..], &[0, 1][..]));
        assert_eq!(f.0.len(), 4);
        assert_eq!(t.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_host_under_suspicion_is_tried_last() {
        let b = balancer(3, "");
        let (r, tried) = run(&b, Some(0), Some(0), &[1, 2]).await;
        assert_eq!(r.unwrap(), 0);
        assert_eq!(tried, [1, 2, 0]);
        let (r, tried) = run(&b, None, Some(1), &[]).await;
        assert_eq!(r.unwrap(), 0);
        assert_eq!(tried, [0]);
    }

    #[tokio::test(start_paused = true)]
    async fn blacklisted_hosts_are_tried_after_the_others_soonest_expiring_first() {
        let b = balancer(3, "");
        b.blacklist.add(b.addr(0), Duration::from_secs(20), "x");
        b.blacklist.add(b.addr(1), Duration::from_secs(10), "x");
        let (r, tried) = run(&b, None, None, &[2]).await;
        assert_eq!(r.unwrap(), 1);
        assert_eq!(tried, [2, 1]);
        assert!(!b.blacklist.contains(b.addr(1)), "a success takes it off");
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_attempt_is_bounded_by_connect_timeout() {
        // The stagger delay is capped at the bound, here the same time: the timeout, seen
        // first, is a failure, and the next host starts at once.
        let b = balancer(2, "&connect_timeout=250ms");
        let all = [0, 1];
        let t = Instant::now();
        let r = b
            .establish(None, &all, None, |i| async move {
                if i == 0 {
                    std::future::pending::<()>().await;
                }
                Ok(())
            })
            .await;
        assert_eq!(r.unwrap().0, 1);
        assert_eq!(t.elapsed(), Duration::from_millis(250));
        assert!(b.blacklist.contains(b.addr(0)));
    }

    /// What a scripted attempt does on one host.
    #[derive(Clone, Copy)]
    enum Act {
        /// Never answers (a stopped server).
        Hang,
        /// Connects after so many milliseconds.
        Ok(u64),
        /// Fails as the host's fault (refused) after so many milliseconds.
        Fail(u64),
        /// Fails with a bad password after so many milliseconds.
        Deny(u64),
    }

    /// Runs `establish` over every host with attempts that act as `acts` says; returns the
    /// result and when each attempt started (milliseconds after the call), in order.
    async fn scripted(b: &Balancer, acts: &[Act]) -> (Result<usize, Error>, Vec<(usize, u64)>) {
        let started = Mutex::new(Vec::new());
        let all: Vec<usize> = (0..b.hosts.len()).collect();
        let t = Instant::now();
        let r = b
            .establish(None, &all, None, |i| {
                let at = t.elapsed().as_millis() as u64;
                started.lock().unwrap().push((i, at));
                let act = acts[i];
                async move {
                    let after = |ms| tokio::time::sleep(Duration::from_millis(ms));
                    match act {
                        Act::Hang => std::future::pending().await,
                        Act::Ok(ms) => after(ms).await,
                        Act::Fail(ms) => {
                            after(ms).await;
                            return Err(refused());
                        }
                        Act::Deny(ms) => {
                            after(ms).await;
                            return Err(denied());
                        }
                    }
                    Ok(())
                }
            })
            .await;
        (r.map(|(i, ())| i), started.into_inner().unwrap())
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_host_gets_company_after_the_stagger_delay() {
        let b = balancer(3, "");
        let t = Instant::now();
        let (r, started) = scripted(&b, &[Act::Hang, Act::Ok(10), Act::Ok(0)]).await;
        assert_eq!(r.unwrap(), 1);
        // No connect time known yet: the default delay, not connect_timeout (2 s).
        assert_eq!(started, [(0, 0), (1, 250)]);
        assert_eq!(t.elapsed(), ms(260));
        // The hung attempt was dropped, not judged.
        assert!(b.blacklist.snapshot().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn two_hung_hosts_are_staggered_past_twice() {
        let b = balancer(3, "");
        let t = Instant::now();
        let (r, started) = scripted(&b, &[Act::Hang, Act::Hang, Act::Ok(10)]).await;
        assert_eq!(r.unwrap(), 2);
        assert_eq!(started, [(0, 0), (1, 250), (2, 500)]);
        assert_eq!(t.elapsed(), ms(510));
        assert!(b.blacklist.snapshot().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_to_succeed_wins_even_if_it_started_first() {
        let b = balancer(3, "");
        let (r, started) = scripted(&b, &[Act::Ok(300), Act::Ok(100), Act::Ok(0)]).await;
        assert_eq!(
            r.unwrap(),
            0,
            "host 0 answers at 300 ms, host 1 would at 350 ms"
        );
        assert_eq!(started, [(0, 0), (1, 250)]);
        assert!(b.blacklist.snapshot().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_beside_a_running_attempt_starts_the_next_at_once() {
        let b = balancer(4, "");
        let t = Instant::now();
        let (r, started) =
            scripted(&b, &[Act::Fail(400), Act::Hang, Act::Fail(0), Act::Ok(10)]).await;
        // 0 starts; 1 beside it at 250 ms; 0 fails at 400 ms and 2 starts at once, fails at
        // once, and 3 starts.
        assert_eq!(started, [(0, 0), (1, 250), (2, 400), (3, 400)]);
        assert_eq!(r.unwrap(), 3);
        assert_eq!(t.elapsed(), ms(410));
        assert!(b.blacklist.contains(b.addr(0)) && b.blacklist.contains(b.addr(2)));
        assert!(!b.blacklist.contains(b.addr(1)), "dropped, not judged");
    }

    #[tokio::test(start_paused = true)]
    async fn quick_failures_stay_sequential_and_are_all_listed() {
        let b = balancer(3, "");
        let t = Instant::now();
        let (r, started) = scripted(&b, &[Act::Fail(10), Act::Fail(10), Act::Fail(10)]).await;
        let Err(Error::AllHostsFailed(f)) = r else {
            panic!("{r:?}")
        };
        // Each failure comes before the stagger delay: one attempt at a time, as before.
        assert_eq!(started, [(0, 0), (1, 10), (2, 20)]);
        assert_eq!(t.elapsed(), ms(30));
        let listed: Vec<&HostAddr> = f.0.iter().map(|(h, _)| h).collect();
        assert_eq!(listed, [b.addr(0), b.addr(1), b.addr(2)]);
        assert_eq!(b.blacklist.snapshot().len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_bad_password_beside_a_hung_attempt_stops_everything_at_once() {
        let b = balancer(3, "");
        let t = Instant::now();
        let (r, started) = scripted(&b, &[Act::Hang, Act::Deny(10), Act::Ok(0)]).await;
        assert!(
            matches!(r, Err(Error::Mysql(mysql_async::Error::Server(_)))),
            "{r:?}"
        );
        assert_eq!(started, [(0, 0), (1, 250)]);
        assert_eq!(t.elapsed(), ms(260), "not waiting for the hung attempt");
        assert!(b.blacklist.snapshot().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn every_host_hung_fails_after_connect_timeout_each_with_its_timeout() {
        let b = balancer(2, "&connect_timeout=1s");
        let t = Instant::now();
        let (r, started) = scripted(&b, &[Act::Hang, Act::Hang]).await;
        let Err(Error::AllHostsFailed(f)) = r else {
            panic!("{r:?}")
        };
        assert_eq!(started, [(0, 0), (1, 250)]);
        // Each attempt keeps its own bound.
        assert_eq!(t.elapsed(), ms(1250));
        assert_eq!(f.0.len(), 2);
        assert!(b.blacklist.contains(b.addr(0)) && b.blacklist.contains(b.addr(1)));
    }

    /// A balancer over `n` hosts named after `name` (connect times are process-wide, by
    /// host: these tests' hosts are their own).
    fn named(name: &str, n: u16) -> Arc<Balancer> {
        let hosts: Vec<String> = (1..=n).map(|p| format!("{name}{p}:{p}")).collect();
        let url = format!("mysql://u@{}/?strategy=sequential", hosts.join(","));
        Balancer::with_blacklist(url.parse().unwrap(), Arc::new(Blacklist::new()))
    }

    #[tokio::test(start_paused = true)]
    async fn the_delay_follows_the_connect_times_seen() {
        let b = named("adaptive", 3);
        assert_eq!(b.stagger_delay(0), STAGGER_DEFAULT, "nothing seen yet");
        // Another host's time stands in for a host never connected to (the slowest seen).
        b.hosts[1].connect_time.record(ms(20));
        b.hosts[2].connect_time.record(ms(30));
        assert_eq!(b.stagger_delay(0), ms(120));
        // A host's own time, four times over, decaying towards the newest.
        b.hosts[0].connect_time.record(ms(40));
        assert_eq!(b.stagger_delay(0), ms(160));
        b.hosts[0].connect_time.record(ms(80));
        assert_eq!(
            b.stagger_delay(0),
            ms(200),
            "40 + (80 - 40) / 4 = 50, times 4"
        );
        // Never under the floor, never over the bound.
        b.hosts[1].connect_time.0.store(300_000, Ordering::Release);
        assert_eq!(b.stagger_delay(1), STAGGER_FLOOR);
        b.hosts[2]
            .connect_time
            .0
            .store(10_000_000_000, Ordering::Release);
        assert_eq!(b.stagger_delay(2), Duration::from_secs(2));

        // And establish uses it: host 0 hung, raced after 200 ms.
        let t = Instant::now();
        let (r, started) = scripted(&b, &[Act::Hang, Act::Ok(5), Act::Ok(0)]).await;
        assert_eq!(r.unwrap(), 1);
        assert_eq!(started, [(0, 0), (1, 200)]);
        assert_eq!(t.elapsed(), ms(205));
    }
}
