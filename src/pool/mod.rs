//! [`LoadBalancedPool`]: pooled connections over several hosts.
//!
//! A service does not hold one connection; it checks one out per request. The pool keeps, per
//! host, idle connections and a limit of open ones (`host.rs`), and hands out
//! [`LoadBalancedConnection`] handles whose physical connection comes from a host's pool and
//! goes back to it when the handle is dropped.
//!
//! Checkout (`get_conn`):
//! 1. Hosts that are blacklisted, removed, or at `pool_max` are skipped; the strategy picks
//!    among the rest (the same [`Balancer`] as a single connection: strategy, process-wide
//!    blacklist, exception checker).
//! 2. The picked host's most recently returned idle connection is pinged if it idled longer
//!    than `idle_ping_after`, and dropped if the ping fails; with none left a new connection
//!    is opened, bounded by `connect_timeout`.
//! 3. A host that cannot connect is blacklisted and the next host is tried at once; no sleep.
//! 4. When every usable host is at `pool_max`, the checkout waits for a connection to come
//!    back, up to `acquire_timeout`, then fails with [`Error::PoolExhausted`].
//!
//! The handle is a full [`LoadBalancedConnection`]: a read that meets a dead host is retried
//! on another host's pool, a write is never repeated, a transaction stays on one connection.
//!
//! Limits are `mysql_async`'s pool parameters, per host, with its defaults; they map onto Go's
//! `database/sql` settings as follows:
//!
//! | URL parameter | `database/sql` | default | meaning here |
//! |---|---|---|---|
//! | `pool_max` | `SetMaxOpenConns` | 100 | open connections per host, idle or busy |
//! | `pool_min` | (`SetMaxIdleConns`, inverted) | 10 | idle connections kept however long they idle |
//! | `inactive_connection_ttl` (s) | `SetConnMaxIdleTime` | 0 | idle longer than this, beyond `pool_min`, is closed |
//! | `abs_conn_ttl` (s), `abs_conn_ttl_jitter` (s) | `SetConnMaxLifetime` | none | closed at the first return past lifetime + random jitter |
//! | `ttl_check_interval` (s) | | 30 | how often idle connections are reaped |
//! | `reset_connection` | | true | `COM_RESET_CONNECTION` before reuse, when the session was changed |
//!
//! A returned connection is reset only if its session may hold state the next user must not
//! see (a transaction, `SET`, a user variable, a temporary table, a prepared statement);
//! one that only ran plain reads and writes goes straight back (no extra round trip). With
//! `reset_connection=false` such a connection is closed instead of reused.
//!
//! Hosts can be added and removed while traffic runs ([`LoadBalancedPool::add_host`],
//! [`LoadBalancedPool::remove_host`]). A handle moves to the new host list at its next safe
//! point (no transaction open, nothing pinning the session); a handle still inside a
//! transaction on a removed host when the grace period ends gets
//! [`Error::TransactionLost`] at its next statement.
//!
//! With a `mysql+srv://` URL (feature `srv`) the host list comes from DNS SRV records: read
//! at [`LoadBalancedPool::connect`] (or at the first checkout of a pool made with `new`), then
//! re-read every `srv_refresh` by a task of the pool's, which replaces the hosts as above
//! when the records change (see `srv.rs`).

mod checkout;
mod hooks;
mod host;
mod prefer;
mod snapshot;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::Duration;

use dashmap::DashMap;
use tokio::sync::Notify;
use tokio::time::Instant;

pub(crate) use self::hooks::Hooks;
pub(crate) use self::host::{HostPool, Limits, close_all};
pub use self::snapshot::{HostSnapshot, HostState};
use crate::balancer::Balancer;
use crate::conn::LoadBalancedConnection;
use crate::error::Error;
use crate::opts::{HostAddr, HostSpec, LbOpts};
use crate::stats::HostStats;

/// A pool of load-balanced connections. Cheap to clone; clones share the pool.
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use mysql_async::prelude::Queryable;
/// let pool = mysql_lb::LoadBalancedPool::new("mysql://app:secret@db1,db2,db3/shop?pool_max=20".parse()?);
/// let mut conn = pool.get_conn().await?;
/// let n: Option<u64> = conn.query_first("SELECT COUNT(*) FROM orders").await?;
/// drop(conn); // back to its host's pool
/// pool.disconnect().await;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct LoadBalancedPool {
    core: Arc<PoolCore>,
}

/// What the pool's handles share.
pub(crate) struct PoolCore {
    balancer: RwLock<Arc<Balancer>>,
    generation: AtomicU64,
    hosts: DashMap<HostAddr, Arc<HostPool>>,
    /// Removed hosts and when their grace period ends.
    removed: DashMap<HostAddr, Instant>,
    /// Held while the host list is read, changed and written back, so that concurrent
    /// `add_host` / `remove_host` calls do not undo each other.
    membership: Mutex<()>,
    limits: Limits,
    released: Arc<Notify>,
    acquire_timeout: Duration,
    closed: AtomicBool,
    reaper: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Set once by a replication pool, before any checkout.
    hooks: OnceLock<Arc<dyn Hooks>>,
    /// The SRV lookups of a `+srv` URL, made at the first need (on the caller's runtime).
    #[cfg(feature = "srv")]
    srv: Mutex<Option<crate::srv::SharedSource>>,
    /// The task that re-reads the SRV records; it holds the pool weakly and ends with it.
    #[cfg(feature = "srv")]
    srv_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for PoolCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolCore")
            .field("balancer", &*self.balancer())
            .finish_non_exhaustive()
    }
}

impl LoadBalancedPool {
    /// A pool over `opts`' hosts (every host, whatever its role). Connections are opened on
    /// demand; nothing is dialled here.
    pub fn new(opts: LbOpts) -> LoadBalancedPool {
        LoadBalancedPool::with_balancer(Balancer::new(opts))
    }

    /// A pool using a shared [`Balancer`] (its strategy state and blacklist).
    pub fn with_balancer(balancer: Arc<Balancer>) -> LoadBalancedPool {
        let limits = limits_of(balancer.opts());
        let released = Arc::new(Notify::new());
        let hosts = DashMap::new();
        for h in balancer.opts().hosts() {
            hosts.insert(
                h.addr.clone(),
                HostPool::new(h.addr.clone(), limits.clone(), released.clone()),
            );
        }
        LoadBalancedPool {
            core: Arc::new(PoolCore {
                acquire_timeout: balancer.opts().acquire_timeout(),
                balancer: RwLock::new(balancer),
                generation: AtomicU64::new(0),
                hosts,
                removed: DashMap::new(),
                membership: Mutex::new(()),
                limits,
                released,
                closed: AtomicBool::new(false),
                reaper: Mutex::new(None),
                hooks: OnceLock::new(),
                #[cfg(feature = "srv")]
                srv: Mutex::new(None),
                #[cfg(feature = "srv")]
                srv_task: Mutex::new(None),
            }),
        }
    }

    /// A pool over `opts`' hosts, as [`new`](Self::new); for a `mysql+srv://` URL the SRV
    /// records are read first (bounded by `connect_timeout`), so that a name that does not
    /// resolve fails here with [`Error::Srv`] rather than at the first checkout, and the pool
    /// re-reads them every `srv_refresh`. Nothing is dialled.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), mysql_lb::Error> {
    /// let opts = "mysql+srv://app:secret@_mysql._tcp.example.com/shop".parse()?;
    /// let pool = mysql_lb::LoadBalancedPool::connect(opts).await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(opts: LbOpts) -> Result<LoadBalancedPool, Error> {
        let pool = LoadBalancedPool::new(opts);
        #[cfg(feature = "srv")]
        pool.core.srv_ready().await?;
        Ok(pool)
    }

    /// Checks out a connection; see the module docs for how a host is chosen.
    pub async fn get_conn(&self) -> Result<LoadBalancedConnection, Error> {
        self.core.start_reaper();
        #[cfg(feature = "srv")]
        self.core.srv_ready().await?;
        // A checkout served from an idle connection does no I/O: without this, a loop of
        // checkouts never yields and starves the runtime's other tasks.
        tokio::task::consume_budget().await;
        if let Some(fut) = self.core.hooks.get().and_then(|h| h.get_conn(&self.core)) {
            return fut.await;
        }
        self.core.checkout_plain().await
    }

    /// The options (of the current host list).
    pub fn opts(&self) -> LbOpts {
        self.core.balancer().opts().clone()
    }

    /// The hosts connections are handed out for now.
    pub fn hosts(&self) -> Vec<HostSpec> {
        self.core.balancer().opts().hosts().to_vec()
    }

    /// Adds a host; checkouts may go to it at once. Adding a host already present does
    /// nothing; adding one removed earlier brings it back.
    pub fn add_host(&self, spec: HostSpec) {
        let _changing = self.core.changing_hosts();
        self.core.add_host(spec);
    }

    /// Removes a host: no new checkouts go to it, idle connections to it are closed, and
    /// connections in use are closed when they come back. A handle inside a transaction
    /// there may finish it within `grace`; after that its next statement fails with
    /// [`Error::TransactionLost`]. Returns whether the host was in the pool.
    pub fn remove_host(&self, addr: &HostAddr, grace: Duration) -> bool {
        let _changing = self.core.changing_hosts();
        self.core.remove_host(addr, grace)
    }

    /// Replaces the host list at once (hosts not in `hosts` are removed with `grace`). The
    /// list takes the order and roles given: under `sequential` the order is the preference.
    pub fn set_hosts(&self, hosts: Vec<HostSpec>, grace: Duration) {
        self.core.replace_hosts(hosts, grace);
    }

    /// Every host the pool knows, with its state, latency, connections and counts.
    pub fn stats(&self) -> Vec<HostSnapshot> {
        self.core.snapshot()
    }

    /// Closes every idle connection and stops handing out new ones; connections in use are
    /// closed when they come back. Later `get_conn` calls fail with [`Error::Closed`].
    pub async fn disconnect(&self) {
        self.core.closed.store(true, Ordering::Release);
        if let Some(r) = self
            .core
            .reaper
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            r.abort();
        }
        #[cfg(feature = "srv")]
        if let Some(t) = self
            .core
            .srv_task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            t.abort();
        }
        let bound = self.core.limits.ping_timeout;
        let mut idle = Vec::new();
        for hp in self.core.hosts.iter() {
            idle.extend(hp.close());
        }
        for c in idle {
            let _ = tokio::time::timeout(bound, c.disconnect()).await;
        }
    }

    pub(crate) fn core(&self) -> &Arc<PoolCore> {
        &self.core
    }
}

impl PoolCore {
    /// See [`LoadBalancedPool::set_hosts`].
    fn replace_hosts(&self, hosts: Vec<HostSpec>, grace: Duration) {
        let _changing = self.changing_hosts();
        let now = self.balancer().opts().hosts().to_vec();
        for old in &now {
            if !hosts.iter().any(|h| h.addr == old.addr) {
                self.remove_host(&old.addr, grace);
            }
        }
        for h in &hosts {
            self.add_host(h.clone());
        }
        if self.balancer().opts().hosts() != hosts.as_slice() {
            self.set_hosts(hosts);
        }
    }

    /// For a `+srv` URL: makes the SRV source, starts the refresh task, and when the pool
    /// has no host yet reads the records now (bounded by `connect_timeout`). Cheap once done:
    /// two lock-free checks and an uncontended lock.
    #[cfg(feature = "srv")]
    async fn srv_ready(self: &Arc<Self>) -> Result<(), Error> {
        // On every checkout: an Arc clone and a field read when the URL lists hosts.
        let balancer = self.balancer();
        let opts = balancer.opts();
        if opts.srv_name().is_none() || self.is_closed() {
            return Ok(());
        }
        let existing = self.srv.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let source = match existing {
            Some(s) => s,
            None => {
                let made = crate::srv::SrvSource::of(opts)?
                    .map(|s| Arc::new(tokio::sync::Mutex::new(s)))
                    .ok_or(Error::Closed)?;
                self.srv
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_or_insert(made)
                    .clone()
            }
        };
        if self.balancer().opts().hosts().is_empty() {
            // One lookup at a time: checkouts that arrive together wait for the first one.
            let mut s = source.lock().await;
            if self.balancer().opts().hosts().is_empty() {
                let hosts = match s.hosts().await? {
                    Some(h) => h,
                    None => s.last_hosts().unwrap_or_default().to_vec(),
                };
                tracing::info!(srv = s.name(), hosts = ?hosts, "SRV records read");
                // The first list is the pool's start, as a URL's hosts are: no slow start
                // (hosts that join later, through the refresh, do slow-start).
                let _changing = self.changing_hosts();
                for h in &hosts {
                    self.host(&h.addr);
                }
                self.set_hosts(hosts);
            }
        }
        self.start_srv_refresh(source, opts.srv_refresh());
        Ok(())
    }

    /// Starts the SRV refresh task once, on the caller's runtime.
    #[cfg(feature = "srv")]
    fn start_srv_refresh(self: &Arc<Self>, source: crate::srv::SharedSource, every: Duration) {
        let mut guard = self.srv_task.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_some() || self.is_closed() {
            return;
        }
        let weak: Weak<PoolCore> = Arc::downgrade(self);
        *guard = Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            // After a slow lookup, wait a whole interval again rather than catch up.
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                if weak.strong_count() == 0 {
                    return;
                }
                let mut s = source.lock().await;
                let read = s.hosts().await;
                let Some(core) = weak.upgrade() else { return };
                match read {
                    Ok(Some(hosts)) => {
                        tracing::info!(srv = s.name(), hosts = ?hosts, "SRV records changed");
                        let before = core.balancer().opts().hosts().to_vec();
                        core.replace_hosts(hosts.clone(), crate::srv::GRACE);
                        report_host_changes(&before, &hosts);
                    }
                    Ok(None) => {}
                    // The last good list stays: DNS trouble must not empty a working pool.
                    Err(e) => tracing::warn!(error = %e, "SRV re-read failed; hosts kept"),
                }
            }
        }));
    }

    /// Serialises changes of the host list.
    fn changing_hosts(&self) -> std::sync::MutexGuard<'_, ()> {
        self.membership.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// See [`LoadBalancedPool::add_host`]; called with `membership` held.
    fn add_host(&self, spec: HostSpec) {
        let mut hosts = self.balancer().opts().hosts().to_vec();
        if hosts.iter().any(|h| h.addr == spec.addr) {
            return;
        }
        self.removed.remove(&spec.addr);
        // A host added at run time slow-starts, as one back from the blacklist does.
        HostStats::of(&spec.addr).came_back();
        self.hosts
            .entry(spec.addr.clone())
            .and_modify(|hp| {
                if hp.is_closed() {
                    *hp = HostPool::new(
                        spec.addr.clone(),
                        self.limits.clone(),
                        self.released.clone(),
                    );
                }
            })
            .or_insert_with(|| {
                HostPool::new(
                    spec.addr.clone(),
                    self.limits.clone(),
                    self.released.clone(),
                )
            });
        hosts.push(spec);
        self.set_hosts(hosts);
    }

    /// See [`LoadBalancedPool::remove_host`]; called with `membership` held.
    fn remove_host(&self, addr: &HostAddr, grace: Duration) -> bool {
        let hosts = self.balancer().opts().hosts().to_vec();
        if !hosts.iter().any(|h| &h.addr == addr) {
            return false;
        }
        self.removed.insert(addr.clone(), Instant::now() + grace);
        if let Some(hp) = self.hosts.get(addr) {
            close_all(hp.close(), self.limits.ping_timeout);
        }
        self.set_hosts(hosts.into_iter().filter(|h| &h.addr != addr).collect());
        true
    }

    /// The current balancer (host list).
    pub(crate) fn balancer(&self) -> Arc<Balancer> {
        self.balancer
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Bumped at every host-list change; handles compare it at each statement.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The pool of host `addr`, created if the host is new.
    pub(crate) fn host(&self, addr: &HostAddr) -> Arc<HostPool> {
        if let Some(hp) = self.hosts.get(addr) {
            return hp.clone();
        }
        self.hosts
            .entry(addr.clone())
            .or_insert_with(|| {
                HostPool::new(addr.clone(), self.limits.clone(), self.released.clone())
            })
            .clone()
    }

    /// A checkout without the hooks' `get_conn` (what hooks themselves call).
    pub(crate) async fn checkout_plain(self: &Arc<Self>) -> Result<LoadBalancedConnection, Error> {
        LoadBalancedConnection::checkout(self.clone()).await
    }

    /// Sets the hooks, once, before any checkout.
    pub(crate) fn set_hooks(&self, hooks: Arc<dyn Hooks>) {
        let _ = self.hooks.set(hooks);
    }

    fn set_hosts(&self, hosts: Vec<HostSpec>) {
        let mut guard = self.balancer.write().unwrap_or_else(|e| e.into_inner());
        let old = guard.clone();
        let opts = old.opts().with_hosts(hosts);
        *guard = Balancer::with_blacklist(opts, old.blacklist().clone());
        self.generation.fetch_add(1, Ordering::AcqRel);
        drop(guard);
        self.released.notify_waiters();
    }

    /// Starts the idle reaper once, on the caller's runtime. It holds the pool weakly and
    /// ends with it.
    fn start_reaper(self: &Arc<Self>) {
        let mut guard = self.reaper.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_some() || self.is_closed() {
            return;
        }
        let weak: Weak<PoolCore> = Arc::downgrade(self);
        let every = self.limits.check_interval.max(Duration::from_millis(10));
        *guard = Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(core) = weak.upgrade() else { return };
                for hp in core.hosts.iter() {
                    close_all(hp.reap(), core.limits.ping_timeout);
                }
            }
        }));
    }

    fn snapshot(&self) -> Vec<HostSnapshot> {
        let balancer = self.balancer();
        let blacklisted = balancer.blacklist().snapshot();
        let mut out: Vec<HostSnapshot> = balancer
            .opts()
            .hosts()
            .iter()
            .map(|spec| {
                snapshot::of(
                    &blacklisted,
                    spec,
                    self.hosts.get(&spec.addr).as_deref(),
                    false,
                )
            })
            .collect();
        for r in self.removed.iter() {
            let spec = HostSpec {
                addr: r.key().clone(),
                role: crate::opts::Role::Any,
            };
            out.push(snapshot::of(
                &blacklisted,
                &spec,
                self.hosts.get(r.key()).as_deref(),
                true,
            ));
        }
        out
    }
}

impl Drop for PoolCore {
    fn drop(&mut self) {
        if let Some(r) = self
            .reaper
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            r.abort();
        }
        #[cfg(feature = "srv")]
        if let Some(t) = self
            .srv_task
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            t.abort();
        }
        let bound = self.limits.ping_timeout;
        for hp in self.hosts.iter() {
            close_all(hp.close(), bound);
        }
    }
}

/// The per-host limits from `opts`' `mysql_async` pool parameters.
fn limits_of(opts: &LbOpts) -> Limits {
    let any = opts
        .hosts()
        .first()
        .map(|h| h.addr.clone())
        .unwrap_or_else(|| HostAddr::new("127.0.0.1", 3306));
    let my: mysql_async::Opts = opts.mysql_opts(&any).into();
    let p = my.pool_opts();
    Limits {
        min_idle: p.constraints().min(),
        max_open: p.constraints().max(),
        idle_timeout: p.inactive_connection_ttl(),
        max_lifetime: p.abs_conn_ttl(),
        lifetime_jitter: p.abs_conn_ttl_jitter(),
        reset: p.reset_connection(),
        check_interval: p.ttl_check_interval(),
        ping_after: opts.idle_ping_after(),
        ping_timeout: opts.ping_timeout(),
    }
}

/// Tells subscribers which hosts a refresh added and which it dropped.
#[cfg(feature = "srv")]
fn report_host_changes(before: &[HostSpec], now: &[HostSpec]) {
    use crate::observe::{self, EventKind};
    for h in now
        .iter()
        .filter(|h| !before.iter().any(|b| b.addr == h.addr))
    {
        observe::emit(|| EventKind::HostDiscovered {
            host: h.addr.clone(),
        });
    }
    for b in before
        .iter()
        .filter(|b| !now.iter().any(|h| h.addr == b.addr))
    {
        observe::emit(|| EventKind::HostDropped {
            host: b.addr.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn set_hosts_takes_the_order_and_roles_given() {
        let pool = LoadBalancedPool::new(
            "mysql://u@127.0.0.1:1,127.0.0.1:2,127.0.0.1:3/"
                .parse()
                .unwrap(),
        );
        let spec = |port, role| HostSpec::new("127.0.0.1", port, role);
        let wanted = vec![
            spec(3, crate::opts::Role::Source),
            spec(1, crate::opts::Role::Any),
            spec(4, crate::opts::Role::Any),
        ];
        pool.set_hosts(wanted.clone(), Duration::ZERO);
        assert_eq!(pool.hosts(), wanted);
        // The same list again changes nothing.
        let generation = pool.core.generation();
        pool.set_hosts(wanted, Duration::ZERO);
        assert_eq!(pool.core.generation(), generation);
    }
}
