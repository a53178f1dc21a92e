//! [`ReplicationPool`]: writes to the source, reads spread over replicas.
//!
//! A replication URL (`mysql:replication://source,replica1,replica2/db`, or hosts with
//! `type=source|replica`) gives two [`LoadBalancedPool`]s: [`ReplicationPool::writer`] over the
//! sources and [`ReplicationPool::reader`] over the replicas, each with the URL's strategy and
//! the process-wide blacklist. [`ReplicationPool::get_conn`] gives one handle that routes by
//! `set_read_only`, for code ported from Connector/J's `ReplicationConnection`.
//!
//! Roles are checked, not only trusted (`monitor.rs`): which host takes writes and which
//! replicas are current enough to read from is re-read every `health_check_interval`, and at
//! once when a write meets a read-only server. Reads can be made to see the pool's own
//! writes with `causal_reads=true` (`causal.rs`): they go to a replica known to have the
//! pool's last write, and wait only when none has it.
//!
//! Connector/J's options apply: `readFromSourceWhenNoReplicas` sends reads to the source when
//! no replica can serve them; `allowSourceDownConnections` and `allowReplicaDownConnections`
//! let [`ReplicationPool::new`] succeed while no source, or no replica, answers.

mod causal;
mod conn;
mod gtid;
mod hooks;
mod monitor;

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;

use self::causal::Causal;
pub use self::conn::ReplicationConnection;
use self::hooks::{ReadSide, SideHooks};
use self::monitor::Known;
use crate::error::Error;
use crate::observe::{self, EventKind};
use crate::opts::{HostAddr, HostSpec, LbOpts, Role};
use crate::pool::{HostSnapshot, HostState, LoadBalancedPool};
use crate::stats::HostStats;

/// How long connections to a host that left a role may finish their work.
const ROLE_CHANGE_GRACE: Duration = Duration::from_secs(10);

/// Sources and replicas behind one handle. Cheap to clone; clones share everything.
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use mysql_async::prelude::Queryable;
/// let url = "mysql:replication://app:secret@src:3306,rep1:3306,rep2:3306/shop?causal_reads=true";
/// let pool = mysql_lb::ReplicationPool::new(url.parse()?).await?;
/// pool.writer().get_conn().await?.query_drop("INSERT INTO t VALUES (1)").await?;
/// // Goes to a replica that has the insert (waiting only if none has it yet), else the source.
/// let n: Option<u64> = pool.reader().get_conn().await?.query_first("SELECT COUNT(*) FROM t").await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct ReplicationPool {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    opts: LbOpts,
    writer: LoadBalancedPool,
    reader: LoadBalancedPool,
    known: tokio::sync::Mutex<Vec<Known>>,
    /// Hosts left out of reads for lag, with their lag (seconds, `None` unknown).
    lagging: Mutex<Vec<(HostAddr, Option<u64>)>>,
    kick: Arc<Notify>,
    /// With `causal_reads`: the monitor tells it what each replica has applied.
    causal: Option<Arc<Causal>>,
    monitor: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl ReplicationPool {
    /// Builds both pools and checks every host's role once. Fails when no source (or no
    /// replica) answers, unless `allow_source_down_connections` (or
    /// `allow_replica_down_connections`) is set.
    pub async fn new(opts: LbOpts) -> Result<ReplicationPool, Error> {
        let writer = LoadBalancedPool::new(opts.with_hosts(opts.sources().cloned().collect()));
        let reader = LoadBalancedPool::new(opts.with_hosts(opts.replicas().cloned().collect()));
        let kick = Arc::new(Notify::new());
        let causal = opts
            .causal_reads()
            .then(|| Arc::new(Causal::new(opts.causal_read_timeout())));
        let bound = opts.ping_timeout();
        writer.core().set_hooks(Arc::new(SideHooks {
            kick: kick.clone(),
            causal: causal.clone(),
            bound,
            read_side: None,
        }));
        reader.core().set_hooks(Arc::new(SideHooks {
            kick: kick.clone(),
            causal: causal.clone(),
            bound,
            read_side: Some(ReadSide {
                writer: writer.core().clone(),
                read_from_source: opts.read_from_source_when_no_replicas(),
            }),
        }));
        let inner = Arc::new(Inner {
            known: tokio::sync::Mutex::new(opts.hosts().iter().cloned().map(Known::new).collect()),
            opts,
            writer,
            reader,
            lagging: Mutex::new(Vec::new()),
            kick,
            causal,
            monitor: Mutex::new(None),
        });
        inner.check().await;
        inner.check_startable().await?;
        let weak = Arc::downgrade(&inner);
        let every = inner.opts.health_check_interval();
        let kick = inner.kick.clone();
        *inner.monitor.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(tokio::spawn(monitor_loop(weak, every, kick)));
        Ok(ReplicationPool { inner })
    }

    /// The pool over the hosts that take writes.
    pub fn writer(&self) -> &LoadBalancedPool {
        &self.inner.writer
    }

    /// The pool over the replicas current enough to read from.
    pub fn reader(&self) -> &LoadBalancedPool {
        &self.inner.reader
    }

    /// One handle for both: writes and transactions on a source, and on a replica once
    /// `set_read_only(true)` (from the next transaction boundary).
    pub fn get_conn(&self) -> ReplicationConnection {
        ReplicationConnection::new(self.clone())
    }

    /// Checks roles and lag now, instead of at the next interval.
    pub async fn check_now(&self) {
        self.inner.check().await;
    }

    /// Adds a host (role as given; the next check confirms it).
    pub async fn add_host(&self, spec: HostSpec) {
        {
            let mut known = self.inner.known.lock().await;
            if known.iter().any(|k| k.spec.addr == spec.addr) {
                return;
            }
            known.push(Known::new(spec));
        }
        self.inner.check().await;
    }

    /// Removes a host from both sides; connections in use may finish within `grace`.
    pub async fn remove_host(&self, addr: &HostAddr, grace: Duration) -> bool {
        let mut known = self.inner.known.lock().await;
        let before = known.len();
        known.retain(|k| &k.spec.addr != addr);
        let found = known.len() != before;
        drop(known);
        self.inner.writer.remove_host(addr, grace);
        self.inner.reader.remove_host(addr, grace);
        found
    }

    /// Every host of both sides, with role, state, latency, connections and counts. A host
    /// left out of reads for lag shows as [`HostState::Lagging`].
    pub fn stats(&self) -> Vec<HostSnapshot> {
        let mut out = self.inner.writer.stats();
        for s in self.inner.reader.stats() {
            if !out.iter().any(|o| o.addr == s.addr) {
                out.push(s);
            }
        }
        let lagging = self
            .inner
            .lagging
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for (addr, lag) in lagging {
            if let Some(s) = out.iter_mut().find(|s| s.addr == addr) {
                s.state = HostState::Lagging { lag_s: lag };
            } else {
                out.push(HostSnapshot {
                    addr,
                    role: Role::Replica,
                    state: HostState::Lagging { lag_s: lag },
                    latency: None,
                    open: 0,
                    busy: 0,
                    statements: 0,
                    errors: 0,
                });
            }
        }
        out
    }

    /// Closes both pools and stops checking.
    pub async fn disconnect(&self) {
        if let Some(m) = self
            .inner
            .monitor
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            m.abort();
        }
        self.inner.writer.disconnect().await;
        self.inner.reader.disconnect().await;
    }
}

impl Inner {
    /// One round of checks; see `monitor.rs`.
    async fn check(&self) {
        let mut known = self.known.lock().await;
        let mut probes = JoinSet::new();
        for (i, k) in known.iter_mut().enumerate() {
            let mut conn = k.conn.take();
            let opts = self.opts.clone();
            let addr = k.spec.addr.clone();
            probes.spawn(async move {
                let p = monitor::probe(&opts, &addr, &mut conn).await;
                (i, conn, p)
            });
        }
        while let Some(joined) = probes.join_next().await {
            let Ok((i, conn, p)) = joined else { continue };
            known[i].conn = conn;
            known[i].reachable = p.is_some();
            if let Some(causal) = &self.causal {
                // Read just now, or gone: either way what was known is replaced.
                let applied = p.as_ref().and_then(|p| p.applied.clone());
                causal.observed(&known[i].spec.addr, applied);
                let stalled = p.as_ref().is_some_and(|p| p.lag == Some(None));
                causal.set_stalled(&known[i].spec.addr, stalled);
            }
            if p.is_some() {
                known[i].last = p;
            }
        }
        let max_lag = self.opts.max_replication_lag();
        let (writers, readers) = monitor::assign(
            &known,
            &self.writer.hosts(),
            max_lag,
            self.opts.read_from_source_when_no_replicas(),
        );
        for k in known.iter().filter(|k| k.reachable) {
            if let Some(p) = &k.last {
                let lag = p.lag.map(|l| l.map(Duration::from_secs));
                HostStats::of(&k.spec.addr)
                    .metrics()
                    .replication(!p.read_only, lag);
            }
        }
        let now_lagging: Vec<(HostAddr, Option<u64>)> = known
            .iter()
            .filter(|k| k.lagging(max_lag))
            .map(|k| {
                let lag = k.last.as_ref().and_then(|p| p.lag).flatten();
                (k.spec.addr.clone(), lag)
            })
            .collect();
        drop(known);
        let before = std::mem::replace(
            &mut *self.lagging.lock().unwrap_or_else(|e| e.into_inner()),
            now_lagging.clone(),
        );
        report_lag_changes(&before, &now_lagging);
        let changed = !same_addrs(&self.writer.hosts(), &writers)
            || !same_addrs(&self.reader.hosts(), &readers);
        if changed {
            let addrs = |v: &[HostSpec]| v.iter().map(|h| h.addr.clone()).collect::<Vec<_>>();
            let (w, r) = (addrs(&writers), addrs(&readers));
            tracing::info!(writers = ?w, readers = ?r, "replication roles changed");
            observe::emit(|| EventKind::RolesChanged {
                writers: w,
                readers: r,
            });
        }
        for (pool, hosts) in [(&self.writer, writers), (&self.reader, readers)] {
            if !same_addrs(&pool.hosts(), &hosts) {
                pool.set_hosts(hosts, ROLE_CHANGE_GRACE);
            }
        }
    }

    async fn check_startable(&self) -> Result<(), Error> {
        let known = self.known.lock().await;
        let up = |role: Role| {
            known.iter().any(|k| {
                k.reachable
                    && k.last.as_ref().is_some_and(|p| match role {
                        Role::Source => !p.read_only,
                        _ => p.read_only,
                    })
            })
        };
        if !up(Role::Source) && !self.opts.allow_source_down_connections() {
            return Err(Error::NoHostForRole {
                role: "source",
                reason: "no host answered with read_only=0 (set allowSourceDownConnections=true to start anyway)".into(),
            });
        }
        let has_replicas = known.iter().any(|k| k.spec.role == Role::Replica);
        if has_replicas && !up(Role::Replica) && !self.opts.allow_replica_down_connections() {
            return Err(Error::NoHostForRole {
                role: "replica",
                reason:
                    "no replica answered (set allowReplicaDownConnections=true to start anyway)"
                        .into(),
            });
        }
        Ok(())
    }
}

/// Tells subscribers which replicas started lagging and which caught up since the last round.
fn report_lag_changes(before: &[(HostAddr, Option<u64>)], now: &[(HostAddr, Option<u64>)]) {
    for (host, lag) in now
        .iter()
        .filter(|(h, _)| !before.iter().any(|(b, _)| b == h))
    {
        tracing::warn!(%host, ?lag, "replica lagging: left out of reads");
        observe::emit(|| EventKind::ReplicaLagging {
            host: host.clone(),
            lag: lag.map(Duration::from_secs),
        });
    }
    for (host, _) in before
        .iter()
        .filter(|(h, _)| !now.iter().any(|(n, _)| n == h))
    {
        tracing::info!(%host, "replica caught up");
        observe::emit(|| EventKind::ReplicaCaughtUp { host: host.clone() });
    }
}

async fn monitor_loop(weak: Weak<Inner>, every: Duration, kick: Arc<Notify>) {
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = kick.notified() => {}
        }
        let Some(inner) = weak.upgrade() else { return };
        inner.check().await;
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(m) = self
            .monitor
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            m.abort();
        }
    }
}

fn same_addrs(a: &[HostSpec], b: &[HostSpec]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.iter().any(|y| y.addr == x.addr))
}
