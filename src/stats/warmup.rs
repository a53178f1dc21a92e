//! Slow start: a host that comes back takes a growing share of new picks, not all of them.
//!
//! A host that was off the blacklist a moment ago, was just added, or has just recovered from
//! a slow spell is cold (empty buffer pool, no prepared plans) and, worse, every client
//! that avoided it would otherwise rediscover it in the same instant. HAProxy's `slowstart`
//! and Envoy's `slow_start_config` ramp such a host's weight from a floor to full over a
//! window; this does the same: the weight is `max(MIN_WEIGHT, elapsed / window)` (Envoy's
//! linear ramp, `aggression = 1`, with its default 10 % floor), and the strategies treat it as
//! the chance that the host takes part in a pick at all (see `strategy`). Reading the weight
//! of a host that is not warming costs one atomic load; a finished ramp is cleared by the
//! first reader that sees it end, so the clock is read only while a host warms.
//!
//! Every warm start also bumps a process-wide counter ([`returns`]): handles that picked
//! before it read it at their next statement and pick again at their next safe point, so a
//! host that came back draws long-lived handles back (see `conn`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::now_nanos;

/// The smallest weight of a warming host (Envoy's `min_weight_percent` default).
pub(crate) const MIN_WEIGHT: f64 = 0.1;

/// How many hosts have started warming in this process (see the module docs).
static RETURNS: AtomicU64 = AtomicU64::new(0);

/// The number of warm starts so far in the process; a change means a host came back.
pub fn returns() -> u64 {
    RETURNS.load(Ordering::Relaxed)
}

/// When a host started warming, in nanoseconds since the stats' origin, plus one (zero: it is
/// not warming).
#[derive(Debug, Default)]
pub(crate) struct Warmup(AtomicU64);

impl Warmup {
    /// Starts (or restarts) the ramp now.
    pub(crate) fn start(&self) {
        self.0.store(now_nanos() + 1, Ordering::Relaxed);
        RETURNS.fetch_add(1, Ordering::Relaxed);
    }

    /// The weight now, in `[MIN_WEIGHT, 1]`, for a ramp of length `window` (zero: no ramp).
    pub(crate) fn weight(&self, window: Duration) -> f64 {
        let since = self.0.load(Ordering::Relaxed);
        if since == 0 {
            return 1.0;
        }
        let elapsed = now_nanos().saturating_sub(since - 1);
        let window = window.as_nanos() as u64;
        if elapsed >= window {
            // Over: later readers skip the clock. (A balancer with a longer window sharing
            // this host sees its ramp end here too; the shortest window wins.)
            let _ = self
                .0
                .compare_exchange(since, 0, Ordering::Relaxed, Ordering::Relaxed);
            return 1.0;
        }
        (elapsed as f64 / window as f64).max(MIN_WEIGHT)
    }

    /// Whether a ramp is under way (it may have ended without anyone reading it).
    pub(crate) fn is_warming(&self) -> bool {
        self.0.load(Ordering::Relaxed) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(2);

    #[tokio::test(start_paused = true)]
    async fn the_weight_ramps_from_the_floor_to_full_over_the_window() {
        let w = Warmup::default();
        assert_eq!(w.weight(WINDOW), 1.0, "not warming");
        let before = returns();
        w.start();
        assert!(returns() > before, "a warm start is announced");
        assert_eq!(w.weight(WINDOW), MIN_WEIGHT);
        tokio::time::advance(Duration::from_millis(100)).await;
        assert_eq!(w.weight(WINDOW), MIN_WEIGHT, "5 % of the window: the floor");
        tokio::time::advance(Duration::from_millis(900)).await;
        assert!((w.weight(WINDOW) - 0.5).abs() < 1e-9);
        tokio::time::advance(Duration::from_millis(1000)).await;
        assert_eq!(w.weight(WINDOW), 1.0);
        assert!(!w.is_warming(), "a finished ramp is cleared");
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_window_means_no_ramp() {
        let w = Warmup::default();
        w.start();
        assert_eq!(w.weight(Duration::ZERO), 1.0);
    }
}
