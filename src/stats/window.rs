//! A small windowed latency histogram: which latency is "slow" for this host now.
//!
//! Hedging needs a high percentile of a host's recent statement times (Dean and Barroso,
//! "The Tail at Scale", 2013, send the backup request after the 95th-percentile expected
//! latency). An EWMA gives a mean, not a tail. This keeps counts in 64 log-spaced buckets (four
//! equal steps per doubling, from 20 µs to about 1 s; longer samples land in the last one), in two
//! generations: samples go to the current one, and every `WINDOW` the older is cleared and
//! becomes the current. A quantile reads both, so it covers the last one to two windows and
//! forgets a slow period soon after it ends. Recording is three relaxed atomic operations;
//! nothing locks. Races at a rotation lose or misplace a few samples, which a percentile
//! estimate does not notice.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

const BUCKETS: usize = 64;
/// How long one generation collects.
pub(crate) const WINDOW: Duration = Duration::from_secs(5);
const WINDOW_NS: u64 = WINDOW.as_nanos() as u64;

/// Recent latencies of one host.
#[derive(Debug)]
pub(crate) struct Window {
    generations: [[AtomicU32; BUCKETS]; 2],
    /// Which generation is current, as the number of the window it started in.
    epoch: AtomicU64,
    origin: Instant,
}

impl Default for Window {
    fn default() -> Window {
        Window {
            generations: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU32::new(0))),
            epoch: AtomicU64::new(0),
            origin: Instant::now(),
        }
    }
}

/// The unit of bucket edges: a quarter of the first bucket's width, in nanoseconds.
const UNIT_NS: u64 = 4_000;

/// Integer arithmetic only: this runs once per statement. The octave is the position of the
/// highest set bit; the next two bits pick one of four equal steps within it (as
/// HdrHistogram's sub-buckets do).
fn bucket_of(d: Duration) -> usize {
    let u = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX) / UNIT_NS;
    if u < 4 {
        return 0;
    }
    let octave = 63 - u.leading_zeros() as usize; // >= 2
    let step = ((u >> (octave - 2)) & 3) as usize;
    (4 * (octave - 2) + step).min(BUCKETS - 1)
}

/// The upper edge of bucket `b`.
fn upper_edge(b: usize) -> Duration {
    let (octave, step) = (b / 4, b % 4);
    Duration::from_nanos(((4 + step as u64 + 1) << octave) * UNIT_NS)
}

impl Window {
    /// The current window's number at `at`, rotating generations if a window has passed.
    fn current(&self, at: Instant) -> usize {
        let since = u64::try_from(at.saturating_duration_since(self.origin).as_nanos());
        let now = since.unwrap_or(u64::MAX) / WINDOW_NS;
        let seen = self.epoch.load(Ordering::Relaxed);
        if now != seen
            && self
                .epoch
                .compare_exchange(seen, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            // The generation that becomes current is cleared; if more than one window
            // passed, the other one is stale too.
            let fresh = (now % 2) as usize;
            for c in &self.generations[fresh] {
                c.store(0, Ordering::Relaxed);
            }
            if now > seen + 1 {
                for c in &self.generations[1 - fresh] {
                    c.store(0, Ordering::Relaxed);
                }
            }
        }
        (now % 2) as usize
    }

    /// Records one statement's time, which ended at `at` (the caller has read the clock).
    pub(crate) fn record(&self, d: Duration, at: Instant) {
        let g = self.current(at);
        self.generations[g][bucket_of(d)].fetch_add(1, Ordering::Relaxed);
    }

    /// The `q` quantile (0 to 1) of the recent samples, as the upper edge of its bucket, and
    /// how many samples it is based on. `None` without samples.
    pub(crate) fn quantile(&self, q: f64) -> Option<(Duration, u64)> {
        self.current(Instant::now());
        let counts: [u64; BUCKETS] = std::array::from_fn(|b| {
            self.generations
                .iter()
                .map(|g| u64::from(g[b].load(Ordering::Relaxed)))
                .sum()
        });
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = ((total as f64) * q.clamp(0.0, 1.0)).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (b, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some((upper_edge(b), total));
            }
        }
        Some((upper_edge(BUCKETS - 1), total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_tail_is_read_from_the_buckets() {
        let w = Window::default();
        assert_eq!(w.quantile(0.99), None);
        for _ in 0..990 {
            w.record(Duration::from_micros(300), Instant::now());
        }
        for _ in 0..10 {
            w.record(Duration::from_millis(40), Instant::now());
        }
        let (p50, n) = w.quantile(0.5).unwrap();
        assert_eq!(n, 1000);
        assert!(
            p50 >= Duration::from_micros(300) && p50 < Duration::from_micros(360),
            "{p50:?}"
        );
        let (p99, _) = w.quantile(0.99).unwrap();
        assert!(
            p99 < Duration::from_micros(360),
            "the 990th sample is fast: {p99:?}"
        );
        let (p999, _) = w.quantile(0.999).unwrap();
        assert!(
            p999 >= Duration::from_millis(40) && p999 < Duration::from_millis(48),
            "{p999:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_period_is_forgotten_two_windows_later() {
        let w = Window::default();
        for _ in 0..100 {
            w.record(Duration::from_millis(50), Instant::now());
        }
        tokio::time::advance(WINDOW).await;
        w.record(Duration::from_micros(200), Instant::now());
        let (p50, n) = w.quantile(0.5).unwrap();
        assert_eq!(n, 101, "the previous window still counts");
        assert!(p50 >= Duration::from_millis(50), "{p50:?}");
        tokio::time::advance(WINDOW).await;
        w.record(Duration::from_micros(200), Instant::now());
        let (p50, n) = w.quantile(0.5).unwrap();
        assert_eq!(n, 2, "two windows on, the slow period is gone");
        assert!(p50 < Duration::from_micros(240), "{p50:?}");
        tokio::time::advance(WINDOW * 3).await;
        assert_eq!(w.quantile(0.5), None, "a long silence clears both");
    }

    #[test]
    fn every_time_lands_under_its_buckets_upper_edge_and_above_the_one_before() {
        for us in (1..200_000u64).step_by(7) {
            let d = Duration::from_micros(us);
            let b = bucket_of(d);
            assert!(d < upper_edge(b), "{d:?} in {b}");
            assert!(b == 0 || d >= upper_edge(b - 1), "{d:?} in {b}");
        }
    }

    #[test]
    fn buckets_cover_20us_to_a_second() {
        assert_eq!(bucket_of(Duration::from_micros(1)), 0);
        assert_eq!(bucket_of(Duration::from_secs(60)), BUCKETS - 1);
        assert!(upper_edge(BUCKETS - 1) > Duration::from_secs(1));
        for b in 0..BUCKETS - 1 {
            assert!(upper_edge(b) < upper_edge(b + 1));
        }
    }
}
