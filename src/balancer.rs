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
use crate::checker::{self, ExceptionChecker};
use crate::error::{Error, HostFailures};
use crate::opts::{HostAddr, HostSpec, LbOpts};
use crate::stats::HostStats;
use crate::strategy::{self, BalanceStrategy, Candidate};

/// One configured host and its shared stats.
pub(crate) struct Host {
    pub spec: HostSpec,
    pub stats: Arc<HostStats>,
    /// What `mysql_async` dials for this host, built once.
    my_opts: mysql_async::Opts,
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
                my_opts: opts.mysql_opts(&spec.addr).into(),
                checking: AtomicBool::new(false),
            })
            .collect();
        Arc::new(Balancer {
            strategy: strategy::from_opts(&opts),
            checker: checker::from_opts(&opts),
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

    /// The address of host `i`.
    pub(crate) fn addr(&self, i: usize) -> &HostAddr {
        &self.hosts[i].spec.addr
    }

    /// The `mysql_async` options for host `i` (a cheap clone).
    pub(crate) fn mysql_opts(&self, i: usize) -> mysql_async::Opts {
        self.hosts[i].my_opts.clone()
    }

    /// Whether the checker blames `err` on the host.
    pub(crate) fn is_host_failure(&self, err: &mysql_async::Error) -> bool {
        self.checker.is_host_failure(err)
    }

    /// Blacklists host `i` for the configured time and counts the failure.
    pub(crate) fn mark_failed(&self, i: usize, why: &mysql_async::Error) {
        self.hosts[i].stats.record_error();
        self.blacklist
            .add(self.addr(i), self.opts.blacklist_timeout, why.to_string());
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
            let bound = this.opts.connect_timeout;
            let verdict = match timeout(bound, mysql_async::Conn::new(this.mysql_opts(i))).await {
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
                failures.0.push((self.addr(i).clone(), e.to_string()));
                Ok(None)
            }
            Err(e) => Err(Error::Mysql(e)),
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
        let bound = self.opts.connect_timeout;
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
