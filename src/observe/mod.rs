//! What operators see: events an application subscribes to, and metrics through the
//! `metrics` facade (feature `metrics`). Spans per statement live with the statement path
//! (`conn/queryable.rs`); this module holds what several layers report into.
//!
//! Each thing that happens is reported once, here, in three forms at once: a `tracing` event
//! (for logs), a metric (for dashboards) and an [`Event`] (for code that reacts). The
//! blacklist, the handles, the pools and the replication monitor call these functions and
//! nothing else, so the three never disagree.

mod events;
pub(crate) mod metrics;

pub(crate) use events::emit;
pub use events::{Event, EventKind, subscribe};

/// Every metric this crate reports (feature `metrics`): name, kind, labels and meaning, as
/// the README's table lists them.
pub fn metric_names() -> &'static [(&'static str, &'static str, &'static str, &'static str)] {
    metrics::METRICS
}

use crate::addr::HostAddr;

/// A handle lost its connection to `from` and moved to `to`: logged, counted (`reason` is a
/// short kind, a metric label) and sent to subscribers (with `why`, the driver's words).
pub(crate) fn failover(from: &HostAddr, to: &HostAddr, reason: &'static str, why: &str) {
    tracing::info!(%from, %to, reason, why, "failover");
    metrics::failover(from, to, reason);
    emit(|| EventKind::Failover {
        from: from.clone(),
        to: to.clone(),
        reason: why.to_owned(),
    });
}
