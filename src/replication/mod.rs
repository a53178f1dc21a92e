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
//! A Galera URL (`mysql:galera://n1,n2,n3/db`, or `galera=true`) gives the same two pools
//! over the nodes of a cluster ([`GaleraPool`]): the monitor reads each node's state instead of
//! `read_only` and lag, keeps nodes that are not Synced in a Primary component out of both
//! pools, and puts the writes on one node or on all (`galera.rs`).
//!
//! Connector/J's options apply: `readFromSourceWhenNoReplicas` sends reads to the source when
//! no replica can serve them; `allowSourceDownConnections` and `allowReplicaDownConnections`
//! let [`ReplicationPool::new`] succeed while no source, or no replica, answers.

mod causal;
mod conn;
mod discover;
mod galera;
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
use crate::opts::{
    GaleraWriters, HostAddr, HostSpec, LbOpts, Mode, Role, StrategyChoice, StrategyKind,
};
use crate::pool::{HostSnapshot, HostState, LoadBalancedPool};
use crate::stats::HostStats;

/// What a round decides: the writers, the readers, and the hosts left out with why.
type Assigned = (Vec<HostSpec>, Vec<HostSpec>, Vec<(HostAddr, HostState)>);

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

/// The nodes of a Galera cluster behind one handle: a [`ReplicationPool`] made from a Galera
/// URL, whose monitor reads node states instead of roles.
///
/// [`writer`](ReplicationPool::writer) takes the writes: one node, the same in every process,
/// with `galera_writers=single` (the default), or every node in rotation with `all`.
/// [`reader`](ReplicationPool::reader) spreads reads over the nodes in rotation.
/// [`get_conn`](ReplicationPool::get_conn) routes by `set_read_only` as it does for
/// replication. A node that is not Synced in a Primary component (it lost quorum, is
/// joining, is a donor, or is desynced) is out of both within one `health_check_interval`;
/// donors and desynced nodes serve only when no node is Synced. See the README's "Galera
/// clusters" for the rules and what a caller hears.
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use mysql_async::prelude::Queryable;
/// let url = "mysql:galera://app:secret@n1:3306,n2:3306,n3:3306/shop";
/// let pool = mysql_lb::GaleraPool::new(url.parse()?).await?;
/// pool.writer().get_conn().await?.query_drop("UPDATE stock SET n = n - 1 WHERE id = 7").await?;
/// let n: Option<u64> = pool.reader().get_conn().await?.query_first("SELECT n FROM stock WHERE id = 7").await?;
/// # Ok(()) }
/// ```
pub type GaleraPool = ReplicationPool;

#[derive(Debug)]
struct Inner {
    opts: LbOpts,
    writer: LoadBalancedPool,
    reader: LoadBalancedPool,
    known: tokio::sync::Mutex<Vec<Known>>,
    /// Hosts left out by the monitor, and why: replicas for lag, Galera nodes for their state.
    left_out: Mutex<Vec<(HostAddr, HostState)>>,
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
        let (writer, reader) = if opts.mode() == Mode::Galera {
            // Every node until the first check says which ones serve.
            let mut writer_opts = opts.clone();
            if opts.galera_writers() == GaleraWriters::Single {
                writer_opts.strategy = StrategyChoice::Named(StrategyKind::Sequential);
            }
            (
                LoadBalancedPool::new(writer_opts),
                LoadBalancedPool::new(opts.clone()),
            )
        } else {
            (
                LoadBalancedPool::new(opts.with_hosts(opts.sources().cloned().collect())),
                LoadBalancedPool::new(opts.with_hosts(opts.replicas().cloned().collect())),
            )
        };
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
            left_out: Mutex::new(Vec::new()),
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
    /// left out of reads for lag shows as [`HostState::Lagging`], a Galera node out of
    /// rotation as [`HostState::NotSynced`].
    pub fn stats(&self) -> Vec<HostSnapshot> {
        let mut out = self.inner.writer.stats();
        for s in self.inner.reader.stats() {
            if !out.iter().any(|o| o.addr == s.addr) {
                out.push(s);
            }
        }
        let left_out = self
            .inner
            .left_out
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for (addr, state) in left_out {
            if let Some(s) = out.iter_mut().find(|s| s.addr == addr) {
                s.state = state;
            } else {
                let role = match state {
                    HostState::Lagging { .. } => Role::Replica,
                    _ => Role::Any,
                };
                out.push(HostSnapshot {
                    addr,
                    role,
                    state,
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
    /// One round of checks; see `monitor.rs` (and `discover.rs` with `discover_hosts`).
    async fn check(&self) {
        let mut known = self.known.lock().await;
        self.probe(&mut known, 0).await;
        if self.opts.discover_hosts() {
            let before = known.len();
            let reported = self.reported(&known);
            let changes = discover::reconcile(&mut known, reported, self.found_role());
            for host in &changes.added {
                tracing::info!(%host, "host discovered");
                observe::emit(|| EventKind::HostDiscovered { host: host.clone() });
            }
            for host in &changes.dropped {
                tracing::info!(%host, "discovered host no longer reported: dropped");
                observe::emit(|| EventKind::HostDropped { host: host.clone() });
            }
            // The new ones are checked now, so that they can serve from this round on.
            let first_new = before - changes.dropped.len();
            if first_new < known.len() {
                self.probe(&mut known, first_new).await;
            }
        }
        let (writers, readers, now_left_out) = if self.opts.mode() == Mode::Galera {
            self.assign_galera(&known)
        } else {
            self.assign_replication(&known)
        };
        drop(known);
        let before = std::mem::replace(
            &mut *self.left_out.lock().unwrap_or_else(|e| e.into_inner()),
            now_left_out.clone(),
        );
        report_left_out_changes(&before, &now_left_out);
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

    /// Writers, readers and the nodes left out, from the Galera nodes' states.
    fn assign_galera(&self, known: &[Known]) -> Assigned {
        let nodes: Vec<galera::Node<'_>> = known.iter().map(Known::node).collect();
        let (w, r) = galera::assign(
            &nodes,
            self.opts.galera_writers(),
            &self.writer.hosts(),
            &self.reader.hosts(),
        );
        for n in &nodes {
            HostStats::of(&n.spec.addr)
                .metrics()
                .galera(n.local_state());
        }
        let out: Vec<(HostAddr, HostState)> = nodes
            .iter()
            .filter_map(|n| {
                let node_state = n.why_out()?;
                Some((n.spec.addr.clone(), HostState::NotSynced { node_state }))
            })
            .collect();
        (w, r, out)
    }

    /// Writers, readers and the replicas left out for lag, from roles and lag.
    fn assign_replication(&self, known: &[Known]) -> Assigned {
        let max_lag = self.opts.max_replication_lag();
        let (w, r) = monitor::assign(
            known,
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
        let out: Vec<(HostAddr, HostState)> = known
            .iter()
            .filter(|k| k.lagging(max_lag))
            .map(|k| {
                let lag_s = k.last.as_ref().and_then(|p| p.lag).flatten();
                (k.spec.addr.clone(), HostState::Lagging { lag_s })
            })
            .collect();
        (w, r, out)
    }

    /// Checks `known[from..]`, all at once, each bounded (see `monitor::probe`).
    async fn probe(&self, known: &mut [Known], from: usize) {
        let mut probes = JoinSet::new();
        for (i, k) in known.iter_mut().enumerate().skip(from) {
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
    }

    /// The hosts the cluster reports now: the replicas the writable sources list, or the
    /// members the Galera nodes in rotation list; `None` when no such host answered.
    fn reported(&self, known: &[Known]) -> Option<Vec<HostAddr>> {
        let galera = self.opts.mode() == Mode::Galera;
        let mut out: Option<Vec<HostAddr>> = None;
        for k in known.iter().filter(|k| k.reachable) {
            let Some(p) = &k.last else { continue };
            let speaks = if galera {
                k.node().standing() == galera::Standing::InRotation
            } else {
                !p.read_only
            };
            if let (true, Some(peers)) = (speaks, &p.peers) {
                let all = out.get_or_insert_with(Vec::new);
                for h in peers {
                    if !all.contains(h) {
                        all.push(h.clone());
                    }
                }
            }
        }
        out
    }

    /// The role of a host found by discovery.
    fn found_role(&self) -> Role {
        if self.opts.mode() == Mode::Galera {
            Role::Any
        } else {
            Role::Replica
        }
    }

    async fn check_startable(&self) -> Result<(), Error> {
        let known = self.known.lock().await;
        if self.opts.mode() == Mode::Galera {
            let nodes: Vec<galera::Node<'_>> = known.iter().map(Known::node).collect();
            if self.opts.allow_source_down_connections()
                || nodes.iter().any(|n| n.standing() != galera::Standing::Out)
            {
                return Ok(());
            }
            let states: Vec<String> = nodes
                .iter()
                .map(|n| format!("{}: {}", n.spec.addr, n.why_out().unwrap_or_default()))
                .collect();
            return Err(Error::NoHostForRole {
                role: "Galera node",
                reason: format!(
                    "no node is Synced in a Primary component ({}); set \
                     allowSourceDownConnections=true to start anyway",
                    states.join(", ")
                ),
            });
        }
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

/// Tells subscribers which hosts the monitor left out since the last round (a replica for
/// lag, a Galera node for its state), and which came back.
fn report_left_out_changes(before: &[(HostAddr, HostState)], now: &[(HostAddr, HostState)]) {
    for (host, state) in now {
        let was = before.iter().find(|(b, _)| b == host).map(|(_, s)| s);
        match state {
            HostState::Lagging { lag_s } if was.is_none() => {
                tracing::warn!(%host, lag = ?lag_s, "replica lagging: left out of reads");
                observe::emit(|| EventKind::ReplicaLagging {
                    host: host.clone(),
                    lag: lag_s.map(Duration::from_secs),
                });
            }
            HostState::NotSynced { node_state } if was != Some(state) => {
                tracing::warn!(%host, state = %node_state, "Galera node out of rotation");
                observe::emit(|| EventKind::NodeOutOfRotation {
                    host: host.clone(),
                    state: node_state.clone(),
                });
            }
            _ => {}
        }
    }
    for (host, state) in before {
        if now.iter().any(|(n, _)| n == host) {
            continue;
        }
        match state {
            HostState::Lagging { .. } => {
                tracing::info!(%host, "replica caught up");
                observe::emit(|| EventKind::ReplicaCaughtUp { host: host.clone() });
            }
            _ => {
                tracing::info!(%host, "Galera node back in rotation");
                observe::emit(|| EventKind::NodeInRotation { host: host.clone() });
            }
        }
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

/// Same hosts in the same order (the order is the writer's preference under `sequential`).
fn same_addrs(a: &[HostSpec], b: &[HostSpec]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.addr == y.addr)
}
