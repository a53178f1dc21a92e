//! The library's events during a bench run (blacklisted, back, failover, ...): collected
//! while it runs, merged, then listed in the report and marked on the chart.
//!
//! A kill under load makes a burst of like events (one failover per task), so events with
//! the same short label within [`MERGE_WINDOW`] of the first of them count as one mark.

use std::time::{Duration, SystemTime};

use mysql_lb::{Event, EventKind};
use serde::Serialize;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Like events closer than this to the first of a group merge into it.
pub(crate) const MERGE_WINDOW: Duration = Duration::from_millis(500);

/// One or more like events.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Mark {
    /// When the first happened, in milliseconds since the run's start.
    pub(crate) at_ms: u64,
    /// Short, for the chart: `blacklisted 127.0.0.1:3307`, `failover to 127.0.0.1:3306`.
    pub(crate) label: String,
    /// The first event's whole text.
    pub(crate) text: String,
    /// How many events the mark stands for.
    pub(crate) count: usize,
}

impl Mark {
    /// Seconds since the run's start.
    pub(crate) fn at_s(&self) -> f64 {
        self.at_ms as f64 / 1000.0
    }

    /// The label with the count when there were several.
    pub(crate) fn label_with_count(&self) -> String {
        if self.count > 1 {
            format!("{} x{}", self.label, self.count)
        } else {
            self.label.clone()
        }
    }
}

/// Collects events from its creation until [`Collector::finish`].
pub(crate) struct Collector {
    stop: oneshot::Sender<()>,
    task: JoinHandle<(Vec<Event>, u64)>,
}

impl Collector {
    /// Subscribes now: every event from here on is kept (up to the channel's capacity
    /// behind; more are counted as missed).
    pub(crate) fn start() -> Collector {
        let mut events = mysql_lb::subscribe();
        let (stop, mut stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let (mut kept, mut missed) = (Vec::new(), 0);
            loop {
                tokio::select! {
                    biased;
                    _ = &mut stopped => break,
                    r = events.recv() => match r {
                        Ok(e) => kept.push(e),
                        Err(RecvError::Lagged(n)) => missed += n,
                        Err(RecvError::Closed) => return (kept, missed),
                    },
                }
            }
            loop {
                match events.try_recv() {
                    Ok(e) => kept.push(e),
                    Err(TryRecvError::Lagged(n)) => missed += n,
                    Err(_) => return (kept, missed),
                }
            }
        });
        Collector { stop, task }
    }

    /// The events so far, and how many were missed.
    pub(crate) async fn finish(self) -> (Vec<Event>, u64) {
        let _ = self.stop.send(());
        self.task.await.unwrap_or_default()
    }
}

/// A short name for the chart.
pub(crate) fn label(kind: &EventKind) -> String {
    match kind {
        EventKind::HostBlacklisted { host, .. } => format!("blacklisted {host}"),
        EventKind::HostBack { host } => format!("back {host}"),
        EventKind::Failover { to, .. } => format!("failover to {to}"),
        EventKind::RolesChanged { .. } => "roles changed".to_owned(),
        EventKind::ReplicaLagging { host, .. } => format!("lagging {host}"),
        EventKind::ReplicaCaughtUp { host } => format!("caught up {host}"),
        EventKind::NodeOutOfRotation { host, .. } => format!("out {host}"),
        EventKind::NodeInRotation { host } => format!("in {host}"),
        EventKind::HostDiscovered { host } => format!("found {host}"),
        EventKind::HostDropped { host } => format!("dropped {host}"),
        EventKind::PoolExhausted { .. } => "pool exhausted".to_owned(),
        other => other
            .to_string()
            .split(':')
            .next()
            .unwrap_or_default()
            .to_owned(),
    }
}

/// Events as marks, relative to `start`, in time order; like events close together merged.
pub(crate) fn marks(events: &[Event], start: SystemTime) -> Vec<Mark> {
    let mut sorted: Vec<&Event> = events.iter().collect();
    sorted.sort_by_key(|e| e.at);
    let window = MERGE_WINDOW.as_millis() as u64;
    let mut out: Vec<Mark> = Vec::new();
    for e in sorted {
        // An event from just before the start (a subscriber is made first) counts as at 0.
        let at_ms = e.at.duration_since(start).unwrap_or_default().as_millis() as u64;
        let label = label(&e.kind);
        let group = out
            .iter_mut()
            .rev()
            .take_while(|m| at_ms.saturating_sub(m.at_ms) <= window)
            .find(|m| m.label == label);
        match group {
            Some(m) => m.count += 1,
            None => out.push(Mark {
                at_ms,
                label,
                text: e.kind.to_string(),
                count: 1,
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mysql_lb::HostAddr;

    fn at(start: SystemTime, ms: u64, kind: EventKind) -> Event {
        Event {
            at: start + Duration::from_millis(ms),
            kind,
        }
    }

    #[test]
    fn like_events_close_together_merge() {
        let start = SystemTime::now();
        let (a, b) = (HostAddr::new("127.0.0.1", 1), HostAddr::new("127.0.0.1", 2));
        let failover = || EventKind::Failover {
            from: a.clone(),
            to: b.clone(),
            reason: "gone".to_owned(),
        };
        let events = [
            at(start, 1000, failover()),
            at(
                start,
                1010,
                EventKind::HostBlacklisted {
                    host: a.clone(),
                    timeout: Duration::from_secs(10),
                    reason: "refused".to_owned(),
                },
            ),
            at(start, 1200, failover()),
            at(start, 1900, failover()),
            at(start, 3000, EventKind::HostBack { host: a.clone() }),
        ];
        let m = marks(&events, start);
        let got: Vec<(u64, &str, usize)> = m
            .iter()
            .map(|m| (m.at_ms, m.label.as_str(), m.count))
            .collect();
        assert_eq!(
            got,
            [
                (1000, "failover to 127.0.0.1:2", 2),
                (1010, "blacklisted 127.0.0.1:1", 1),
                (1900, "failover to 127.0.0.1:2", 1),
                (3000, "back 127.0.0.1:1", 1),
            ]
        );
        assert_eq!(m[0].label_with_count(), "failover to 127.0.0.1:2 x2");
    }
}
