//! Picking a host and getting a working connection to it, switching at once on failure.
//!
//! This is the fix the project exists for. Connector/J with `autoReconnect` sleeps inside the
//! driver between reconnect attempts to a dead host while healthy hosts sit idle. Here a
//! failed attempt blacklists the host (process-wide) and the next candidate is tried at once:
//!
//! 1. Candidates are the hosts not tried yet in this call and not blacklisted (an expired
//!    entry counts as a candidate; the blacklist admits one probe to it at a time).
//! 2. The strategy picks one; the attempt is bounded by `connect_timeout`.
//! 3. Success takes the host off the blacklist. A failure the exception checker blames on the
//!    host blacklists it and goes back to 1. Any other failure (a bad password: every host
//!    would say the same) is returned at once, and no host is blacklisted.
//! 4. When no candidate is left, the blacklisted hosts are tried too, soonest-expiring first,
//!    still without sleeping; then the caller gets one error listing every host and why.
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

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::time::timeout;

use crate::blacklist::{Admission, Blacklist};
use crate::checker::{ExceptionChecker, StandardChecker};
use crate::dial::Dialer;
use crate::error::{Error, HostFailures, READ_ONLY_CODES, is_read_only_refusal};
use crate::hedge::HedgeBudget;
use crate::opts::{HostAddr, HostSpec, LbOpts, StrategyChoice};
use crate::stats::HostStats;
use crate::strategy::{BalanceStrategy, Candidate};

/// One configured host and its shared stats.
pub(crate) struct Host {
    pub spec: HostSpec,
    pub stats: Arc<HostStats>,
    /// How connections to this host are opened (options built once).
    dialer: Arc<Dialer>,
    /// A confirming connect (see [`Balancer::confirm_failure`]) is under way.
    checking: AtomicBool,
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
    /// Bounds the hedged reads of every handle over these hosts.
    pub(crate) hedges: HedgeBudget,
    /// Hedges sent, and how many answered first.
    pub(crate) hedge_counts: [std::sync::atomic::AtomicU64; 2],
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
            })
            .collect();
        Arc::new(Balancer {
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
        let Some(i) = self.hosts.iter().position(|h| &h.spec.addr == host) else {
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
        let Some(i) = self.hosts.iter().position(|h| &h.spec.addr == host) else {
            return self
                .connect_host(host)
                .await
                .map(|_| std::time::Duration::ZERO);
        };
        let bound = self.opts.ping_timeout;
        let result = async {
            let mut conn = self.dial(i).await?;
            let start = tokio::time::Instant::now();
            match timeout(bound, mysql_async::prelude::Queryable::ping(&mut conn)).await {
                Ok(r) => r.map(|()| start.elapsed()),
                Err(_) => Err(Error::Timeout {
                    host: host.clone(),
                    step: "ping",
                    after: bound,
                }
                .into_mysql()),
            }
        }
        .await;
        match result {
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

    /// Tells the balancer that a connection from [`Balancer::connect`] to `host` failed with
    /// `err` (a failed statement or validation ping in a pool of plain connections). If the
    /// exception checker blames the host, it is checked with one bounded connect in the
    /// background and blacklisted if that fails too, as for a [`crate::LoadBalancedConnection`]'s
    /// own connections; returns whether the checker blamed it. Never waits.
    pub fn report_failure(self: &Arc<Self>, host: &HostAddr, err: &mysql_async::Error) -> bool {
        let Some(i) = self.hosts.iter().position(|h| &h.spec.addr == host) else {
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
        async move { this.dial().await }
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
        if self.opts.blacklist_timeout.is_zero()
            || self.blacklist.contains(self.addr(i))
            || self.hosts[i].checking.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let this = self.clone();
        let why = why.to_string();
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
            let addr = this.addr(i).clone();
            let bound = this.hosts[i].dialer.bound() + this.opts.ping_timeout;
            let probe = async {
                let mut conn = this.dial(i).await?;
                mysql_async::prelude::Queryable::ping(&mut conn).await
            };
            if let Ok(Ok(())) = timeout(bound, probe).await {
                this.blacklist.remove(&addr);
            }
            this.hosts[i].checking.store(false, Ordering::Release);
        });
    }

    /// Picks among `among` (host indices) by the strategy, skipping blacklisted hosts and
    /// those in `exclude`. `None` when no host is available.
    pub(crate) fn pick(&self, among: &[usize], exclude: &[usize]) -> Option<usize> {
        let open: Vec<usize> = among
            .iter()
            .copied()
            .filter(|i| !exclude.contains(i) && !self.blacklist.contains(self.addr(*i)))
            .collect();
        (!open.is_empty()).then(|| self.choose(&open))
    }

    /// Runs `attempt` on hosts chosen by the strategy until one succeeds, as the module docs
    /// describe. `first`: a host the strategy already picked for this call, tried first (so
    /// that a stateful strategy such as `roundRobin` is not asked twice). `avoid`: a host
    /// under suspicion (see [`Balancer::confirm_failure`]), tried only when every other host
    /// has failed. Each attempt is bounded by `connect_timeout`. Never sleeps.
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
        for _round in 0..self.opts.retries_all_down.max(1) {
            let mut tried: Vec<usize> = avoid.into_iter().collect();
            // Phase 1: hosts the blacklist lets through, in the strategy's order.
            while let Some(i) = first
                .take()
                .filter(|&i| self.admitted(i))
                .or_else(|| self.pick_admitted(among, &tried))
            {
                tried.push(i);
                if let Some(t) = self.attempt_one(i, &mut attempt, &mut failures).await? {
                    return Ok((i, t));
                }
            }
            // Phase 2: everything else, soonest-expiring blacklist entry first.
            let mut rest: Vec<usize> = among
                .iter()
                .copied()
                .filter(|&i| !tried.contains(&i) || Some(i) == avoid)
                .collect();
            rest.sort_by_key(|&i| (Some(i) == avoid, self.blacklist.expiry(self.addr(i))));
            for i in rest {
                if let Some(t) = self.attempt_one(i, &mut attempt, &mut failures).await? {
                    return Ok((i, t));
                }
            }
        }
        Err(Error::AllHostsFailed(failures))
    }

    /// One bounded attempt on host `i`: `Some` on success, `None` after a host failure (now
    /// blacklisted and listed in `failures`), `Err` for an error that is not the host's.
    async fn attempt_one<T, F, Fut>(
        &self,
        i: usize,
        attempt: &mut F,
        failures: &mut HostFailures,
    ) -> Result<Option<T>, Error>
    where
        F: FnMut(usize) -> Fut,
        Fut: Future<Output = mysql_async::Result<T>>,
    {
        match self.try_host(i, attempt).await {
            Ok(t) => Ok(Some(t)),
            Err(e) if self.is_host_failure(&e) => {
                self.mark_failed(i, &e);
                failures.0.push((self.addr(i).clone(), describe(&e)));
                Ok(None)
            }
            Err(e) => Err(Error::from_mysql_owned(e)),
        }
    }

    /// Lets the strategy choose among `open` (host indices, not empty).
    fn choose(&self, open: &[usize]) -> usize {
        let cands: Vec<Candidate<'_>> = open
            .iter()
            .map(|&i| Candidate::new(&self.hosts[i].spec.addr, i, &self.hosts[i].stats))
            .collect();
        open[self.strategy.pick(&cands).min(open.len() - 1)]
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
    fn pick_admitted(&self, among: &[usize], tried: &[usize]) -> Option<usize> {
        let mut skip: Vec<usize> = tried.to_vec();
        loop {
            let open: Vec<usize> = among
                .iter()
                .copied()
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

    async fn try_host<T, F, Fut>(&self, i: usize, attempt: &mut F) -> mysql_async::Result<T>
    where
        F: FnMut(usize) -> Fut,
        Fut: Future<Output = mysql_async::Result<T>>,
    {
        let bound = self.hosts[i].dialer.bound();
        let result = match timeout(bound, attempt(i)).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout {
                host: self.addr(i).clone(),
                step: "connect",
                after: bound,
            }
            .into_mysql()),
        };
        if result.is_ok() {
            self.blacklist.remove(self.addr(i));
        }
        result
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
        assert_eq!(tried, [0, 1, 0, 1]);
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
}
