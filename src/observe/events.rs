//! Events: a process-wide, bounded broadcast channel of what happens to hosts and handles.
//!
//! Why a broadcast channel and not a callback: the statement path must never wait for the
//! application. `tokio::sync::broadcast` never blocks the sender; a receiver that falls more
//! than [`CAPACITY`] events behind loses the oldest ones and is told how many
//! (`RecvError::Lagged(n)`), so a slow subscriber costs itself, not the database traffic. A
//! callback would run on the statement path, and one that blocked (a lock, a log file on a
//! slow disk) would stall every handle; the channel makes that impossible by construction.
//! Events are rare (failures, recoveries, role changes), and nothing is built when nobody
//! subscribes.

use std::fmt;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use tokio::sync::broadcast;

use crate::addr::HostAddr;

/// How many events a subscriber may fall behind before it loses the oldest.
pub(crate) const CAPACITY: usize = 1024;

static BUS: LazyLock<broadcast::Sender<Event>> = LazyLock::new(|| broadcast::channel(CAPACITY).0);

/// Subscribes to every event of the process from now on. Call `recv().await` on the
/// receiver; `Err(Lagged(n))` means `n` events were missed because the receiver fell behind.
///
/// ```no_run
/// # async fn f() {
/// let mut events = mysql_lb::subscribe();
/// while let Ok(e) = events.recv().await {
///     println!("{e}");
/// }
/// # }
/// ```
pub fn subscribe() -> broadcast::Receiver<Event> {
    BUS.subscribe()
}

/// Sends an event to the subscribers, if there are any; never waits.
pub(crate) fn emit(kind: impl FnOnce() -> EventKind) {
    if BUS.receiver_count() > 0 {
        let _ = BUS.send(Event {
            at: SystemTime::now(),
            kind: kind(),
        });
    }
}

/// Something that happened, and when.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// When it happened (wall clock).
    pub at: SystemTime,
    /// What happened.
    pub kind: EventKind,
}

/// What happened.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum EventKind {
    /// A host was put on a blacklist.
    HostBlacklisted {
        /// The host.
        host: HostAddr,
        /// For how long.
        timeout: Duration,
        /// Why.
        reason: String,
    },
    /// A host came off a blacklist: a connect to it succeeded.
    HostBack {
        /// The host.
        host: HostAddr,
    },
    /// A handle lost its connection to `from` and moved to `to`.
    Failover {
        /// The host it left.
        from: HostAddr,
        /// The host it went to.
        to: HostAddr,
        /// What happened to `from`'s connection.
        reason: String,
    },
    /// A replication pool's roles changed (a promotion, a demotion, a host back).
    RolesChanged {
        /// The hosts that take writes now.
        writers: Vec<HostAddr>,
        /// The hosts that serve reads now.
        readers: Vec<HostAddr>,
    },
    /// A replica fell behind more than `max_replication_lag` (or stopped replicating) and is
    /// left out of reads.
    ReplicaLagging {
        /// The replica.
        host: HostAddr,
        /// How far behind, `None` when unknown (replication stopped).
        lag: Option<Duration>,
    },
    /// A lagging replica caught up and serves reads again.
    ReplicaCaughtUp {
        /// The replica.
        host: HostAddr,
    },
    /// A Galera node left rotation: it is not Synced in a Primary component (or does not
    /// answer). Sent again when its state changes while out.
    NodeOutOfRotation {
        /// The node.
        host: HostAddr,
        /// What it said: `non-Primary`, `Joining`, `Donor/Desynced`, `not answering`…
        state: String,
    },
    /// A Galera node is Synced in a Primary component again and back in rotation.
    NodeInRotation {
        /// The node.
        host: HostAddr,
    },
    /// A pool found a host: a replica a source lists or a member a Galera node lists
    /// (`discover_hosts`; checked for role, lag or node state before it gets traffic), or a
    /// new SRV record of a `+srv` URL.
    HostDiscovered {
        /// The host.
        host: HostAddr,
    },
    /// A host the pool had found is no longer reported (by the servers, or by the SRV
    /// records): out of the pool, its connections in use given the pool's grace.
    HostDropped {
        /// The host.
        host: HostAddr,
    },
    /// A pool had no connection to give within `acquire_timeout`.
    PoolExhausted {
        /// How long the checkout waited.
        waited: Duration,
        /// Usable hosts at the time.
        hosts: usize,
        /// Connections checked out at the time.
        busy: usize,
    },
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[HostAddr]| {
            v.iter()
                .map(|h| h.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        match self {
            EventKind::HostBlacklisted {
                host,
                timeout,
                reason,
            } => write!(f, "host blacklisted: {host} for {timeout:?}: {reason}"),
            EventKind::HostBack { host } => write!(f, "host back: {host}"),
            EventKind::Failover { from, to, reason } => {
                write!(f, "failover: {from} -> {to}: {reason}")
            }
            EventKind::RolesChanged { writers, readers } => write!(
                f,
                "roles changed: writers [{}], readers [{}]",
                list(writers),
                list(readers)
            ),
            EventKind::ReplicaLagging { host, lag } => match lag {
                Some(l) => write!(f, "replica lagging: {host} {} s behind", l.as_secs()),
                None => write!(f, "replica lagging: {host} (replication stopped)"),
            },
            EventKind::ReplicaCaughtUp { host } => write!(f, "replica caught up: {host}"),
            EventKind::NodeOutOfRotation { host, state } => {
                write!(f, "node out of rotation: {host} ({state})")
            }
            EventKind::NodeInRotation { host } => write!(f, "node back in rotation: {host}"),
            EventKind::HostDiscovered { host } => write!(f, "host discovered: {host}"),
            EventKind::HostDropped { host } => {
                write!(f, "discovered host dropped: {host} (no longer reported)")
            }
            EventKind::PoolExhausted {
                waited,
                hosts,
                busy,
            } => write!(
                f,
                "pool exhausted: no connection within {waited:?} ({hosts} hosts, {busy} busy)"
            ),
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self
            .at
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        write!(f, "{}.{:03} {}", ms / 1000, ms % 1000, self.kind)
    }
}
