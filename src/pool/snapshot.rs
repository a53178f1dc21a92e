//! A point-in-time view of every host of a pool, for dashboards and `mysql-lb status`.

use std::time::Duration;

use super::HostPool;
use crate::blacklist::BlacklistEntry;
use crate::opts::{HostAddr, HostSpec, Role};
use crate::stats::HostStats;

/// What a host is doing, as far as the pool knows.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case", tag = "state")
)]
pub enum HostState {
    /// Connections are handed out for it.
    Up,
    /// On the blacklist; skipped until the entry expires.
    Blacklisted {
        /// Time left on the blacklist, in milliseconds.
        remaining_ms: u64,
        /// Why it was put there.
        reason: String,
    },
    /// A replica further behind its source than `max_replication_lag`; left out of reads.
    Lagging {
        /// Seconds behind, `None` when unknown (replication stopped).
        lag_s: Option<u64>,
    },
    /// A Galera node that is not Synced in a Primary component (it lost quorum, is joining,
    /// is a donor or is desynced, or does not answer); out of rotation.
    NotSynced {
        /// What the node said: `non-Primary`, `Joining`, `Donor/Desynced`, `not answering`…
        node_state: String,
    },
    /// Removed from the pool; connections in use finish their work.
    Removed,
}

/// One host in a pool's [`stats`](super::LoadBalancedPool::stats).
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct HostSnapshot {
    /// The host.
    pub addr: HostAddr,
    /// Its role.
    pub role: Role,
    /// What it is doing.
    pub state: HostState,
    /// Recent response time (peak EWMA), `None` before the first statement.
    #[cfg_attr(feature = "serde", serde(serialize_with = "ms"))]
    pub latency: Option<Duration>,
    /// Connections open to it from this pool, idle or busy.
    pub open: usize,
    /// Connections checked out.
    pub busy: usize,
    /// Statements completed (process-wide).
    pub statements: u64,
    /// Host failures counted (process-wide).
    pub errors: u64,
}

#[cfg(feature = "serde")]
fn ms<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_f64(d.as_secs_f64() * 1e3),
        None => s.serialize_none(),
    }
}

/// The snapshot of `spec`, given the blacklist's entries.
pub(super) fn of(
    blacklisted: &[BlacklistEntry],
    spec: &HostSpec,
    pool: Option<&std::sync::Arc<HostPool>>,
    removed: bool,
) -> HostSnapshot {
    let stats = HostStats::of(&spec.addr);
    let state = if removed {
        HostState::Removed
    } else if let Some(e) = blacklisted.iter().find(|e| e.addr == spec.addr) {
        HostState::Blacklisted {
            remaining_ms: e.remaining.as_millis() as u64,
            reason: e.reason.clone(),
        }
    } else {
        HostState::Up
    };
    let (open, idle) = pool.map(|p| (p.open(), p.idle_count())).unwrap_or((0, 0));
    HostSnapshot {
        addr: spec.addr.clone(),
        role: spec.role,
        state,
        latency: stats.latency(),
        open,
        busy: open.saturating_sub(idle),
        statements: stats.statements(),
        errors: stats.errors(),
    }
}
