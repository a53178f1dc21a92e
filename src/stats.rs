//! Per-host response times and load, shared by every handle in the process.
//!
//! The response-time estimate is a *peak-sensitive* exponentially weighted moving average, as
//! in Finagle's and tower's `PeakEwma`: a sample above the estimate replaces it at once (a host
//! that slows down is avoided immediately), a sample below it is blended in with a weight that
//! decays with the time since the last sample, `w = exp(-elapsed / decay)`, so the estimate
//! forgets old samples at a rate set by time, not by traffic. Connector/J's
//! `bestResponseTime` keeps only the last transaction's duration, which one slow outlier or
//! one lucky fast query can swing.
//!
//! The registry is keyed by [`HostAddr`] (host and port), like the blacklist. Time comes from
//! `tokio::time::Instant`, so tests drive it with a paused clock.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use std::time::Duration;

use dashmap::DashMap;
use tokio::time::Instant;

use crate::addr::HostAddr;
use crate::observe::metrics::HostMetrics;

/// What is known about one host's recent behaviour.
#[derive(Debug, Default)]
pub struct HostStats {
    rtt: Mutex<Option<Ewma>>,
    in_flight: AtomicUsize,
    statements: AtomicU64,
    errors: AtomicU64,
    /// Registered at first use (the recorder must be installed by then).
    metrics: OnceLock<HostMetrics>,
    addr: OnceLock<HostAddr>,
}

#[derive(Debug, Clone, Copy)]
struct Ewma {
    estimate: f64,
    at: Instant,
}

impl HostStats {
    /// The stats of `addr`, created on first use; the same `Arc` for every caller.
    pub fn of(addr: &HostAddr) -> Arc<HostStats> {
        if let Some(s) = REGISTRY.get(addr) {
            return s.clone();
        }
        let s = REGISTRY.entry(addr.clone()).or_default().clone();
        let _ = s.addr.set(addr.clone());
        s
    }

    /// This host's metric handles.
    pub(crate) fn metrics(&self) -> &HostMetrics {
        self.metrics.get_or_init(|| {
            let addr = self
                .addr
                .get()
                .cloned()
                .unwrap_or_else(|| HostAddr::new("unknown", 0));
            HostMetrics::new(&addr)
        })
    }

    /// The current response-time estimate, `None` if the host was never measured (or was
    /// reset after recovering).
    pub fn latency(&self) -> Option<Duration> {
        let g = self.rtt.lock().unwrap_or_else(|e| e.into_inner());
        g.map(|e| Duration::from_secs_f64(e.estimate.max(0.0)))
    }

    /// Statements in flight on this host, across the process.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Statements completed on this host.
    pub fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// Statements that failed with an error the checker blamed on the host.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Counts a statement that returned an error (any error: the metric only).
    pub(crate) fn record_statement_error(&self) {
        if cfg!(feature = "metrics") {
            self.metrics().error();
        }
    }

    /// Records one response time.
    pub fn observe(&self, rtt: Duration, decay: Duration) {
        self.statements.fetch_add(1, Ordering::Relaxed);
        if cfg!(feature = "metrics") {
            self.metrics().statement(rtt);
        }
        let now = Instant::now();
        let rtt = rtt.as_secs_f64();
        let mut g = self.rtt.lock().unwrap_or_else(|e| e.into_inner());
        let estimate = match *g {
            None => rtt,
            Some(prev) if rtt > prev.estimate => rtt,
            Some(prev) => {
                let elapsed = now.saturating_duration_since(prev.at).as_secs_f64();
                let w = (-elapsed / decay.as_secs_f64().max(1e-9)).exp();
                prev.estimate * w + rtt * (1.0 - w)
            }
        };
        *g = Some(Ewma { estimate, at: now });
    }

    /// Counts a host failure.
    pub(crate) fn record_error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if cfg!(feature = "metrics") {
            self.metrics().failure();
        }
    }

    /// Forgets the estimate, so that strategies measure the host again.
    pub(crate) fn reset_latency(&self) {
        *self.rtt.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    #[cfg(test)]
    pub(crate) fn in_flight_for_test(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// Marks a statement in flight until the guard drops.
    pub(crate) fn start(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }
}

/// Counts one statement in flight; dropping it (also on cancellation) uncounts it.
pub(crate) struct InFlight(Arc<HostStats>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

static REGISTRY: LazyLock<DashMap<HostAddr, Arc<HostStats>>> = LazyLock::new(DashMap::new);

#[cfg(test)]
mod tests {
    use super::*;

    const DECAY: Duration = Duration::from_secs(10);

    #[tokio::test(start_paused = true)]
    async fn a_slow_sample_counts_at_once() {
        let s = HostStats::default();
        assert_eq!(s.latency(), None);
        s.observe(Duration::from_millis(10), DECAY);
        s.observe(Duration::from_millis(100), DECAY);
        assert_eq!(s.latency(), Some(Duration::from_millis(100)));
    }

    #[tokio::test(start_paused = true)]
    async fn fast_samples_pull_the_estimate_down_with_time() {
        let s = HostStats::default();
        s.observe(Duration::from_millis(100), DECAY);
        // Right away a fast sample barely moves the estimate: w = exp(0) = 1.
        s.observe(Duration::from_millis(10), DECAY);
        let now = s.latency().unwrap().as_secs_f64();
        assert!((now - 0.100).abs() < 1e-9, "{now}");
        // One decay period later the old value keeps weight 1/e.
        tokio::time::advance(DECAY).await;
        s.observe(Duration::from_millis(10), DECAY);
        let expected = 0.100 * (-1f64).exp() + 0.010 * (1.0 - (-1f64).exp());
        let got = s.latency().unwrap().as_secs_f64();
        assert!((got - expected).abs() < 1e-6, "{got} vs {expected}");
        // After many periods only the recent samples matter.
        for _ in 0..10 {
            tokio::time::advance(DECAY).await;
            s.observe(Duration::from_millis(10), DECAY);
        }
        assert!(s.latency().unwrap() < Duration::from_micros(10_100));
    }

    #[tokio::test(start_paused = true)]
    async fn reset_forgets() {
        let s = HostStats::default();
        s.observe(Duration::from_millis(5), DECAY);
        s.reset_latency();
        assert_eq!(s.latency(), None);
        assert_eq!(s.statements(), 1);
    }

    #[test]
    fn registry_is_keyed_by_host_and_port() {
        let a = HostStats::of(&HostAddr::new("10.9.8.7", 3306));
        let b = HostStats::of(&HostAddr::new("10.9.8.7", 3307));
        let a2 = HostStats::of(&HostAddr::new("10.9.8.7", 3306));
        assert!(Arc::ptr_eq(&a, &a2));
        assert!(!Arc::ptr_eq(&a, &b));
    }

    #[test]
    fn in_flight_guard_uncounts_on_drop() {
        let s = Arc::new(HostStats::default());
        let g = s.start();
        assert_eq!(s.in_flight(), 1);
        drop(g);
        assert_eq!(s.in_flight(), 0);
    }
}
