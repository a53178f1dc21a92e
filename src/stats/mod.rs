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
//! A completed sample says how a host *was*. A host that stops answering (SIGSTOP, a full
//! disk) completes nothing, so its estimate would stay low while statements pile up on it.
//! So each host also keeps when it last made progress (completed a statement) and, while it
//! has statements in flight, the time since then counts as a latency too: a host with a
//! statement in flight for 50 ms whose usual time is 0.3 ms is expensive now
//! ([`HostStats::expected`]; Finagle's and tower's load-aware balancers count pending work for
//! the same reason). `window.rs` keeps a recent latency histogram for hedging's tail
//! percentile.
//!
//! The registry is keyed by [`HostAddr`] (host and port), like the blacklist. Time comes from
//! `tokio::time::Instant`, so tests drive it with a paused clock.

mod window;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use std::time::Duration;

use dashmap::DashMap;
use tokio::time::Instant;

use self::window::Window;
use crate::addr::HostAddr;
use crate::observe::metrics::HostMetrics;

/// What is known about one host's recent behaviour.
#[derive(Debug, Default)]
pub struct HostStats {
    rtt: Mutex<Option<Ewma>>,
    in_flight: AtomicUsize,
    statements: AtomicU64,
    errors: AtomicU64,
    /// When the host last completed a statement (or became busy), in nanoseconds since
    /// [`ORIGIN`].
    last_progress: AtomicU64,
    /// Recent statement times.
    window: Window,
    /// The last hedge delay computed from `window` (nanoseconds) and when (nanoseconds since
    /// [`ORIGIN`], plus one so that zero means never).
    hedge_delay: (AtomicU64, AtomicU64),
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

    /// What a statement sent now should expect: the estimate, or the time since the host
    /// last made progress while it has statements in flight, whichever is longer.
    pub fn expected(&self) -> Option<Duration> {
        let stall = self.stalled_for();
        match self.latency() {
            Some(l) => Some(l.max(stall)),
            None if !stall.is_zero() => Some(stall),
            None => None,
        }
    }

    /// How long the host has had statements in flight without completing any (zero when
    /// idle).
    pub fn stalled_for(&self) -> Duration {
        if self.in_flight() == 0 {
            return Duration::ZERO;
        }
        let last = self.last_progress.load(Ordering::Relaxed);
        Duration::from_nanos(now_nanos().saturating_sub(last))
    }

    /// `compute`'s value, computed at most once per `refresh` (a cheap read otherwise).
    pub(crate) fn cached_hedge_delay(
        &self,
        refresh: Duration,
        compute: impl FnOnce() -> Duration,
    ) -> Duration {
        let now = now_nanos();
        let at = self.hedge_delay.1.load(Ordering::Relaxed);
        if at != 0 && now.saturating_sub(at - 1) < refresh.as_nanos() as u64 {
            return Duration::from_nanos(self.hedge_delay.0.load(Ordering::Relaxed));
        }
        let d = compute();
        self.hedge_delay.0.store(
            d.as_nanos().min(u128::from(u64::MAX)) as u64,
            Ordering::Relaxed,
        );
        self.hedge_delay.1.store(now + 1, Ordering::Relaxed);
        d
    }

    /// The `q` quantile of recent statement times, and how many samples it rests on.
    pub(crate) fn recent_quantile(&self, q: f64) -> Option<(Duration, u64)> {
        self.window.quantile(q)
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
        // One clock read for the three uses.
        let now = Instant::now();
        self.last_progress.store(nanos_at(now), Ordering::Relaxed);
        self.window.record(rtt, now);
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
        if self.in_flight.fetch_add(1, Ordering::Relaxed) == 0 {
            // Idle until now: the stall clock starts here, not at the last completion.
            self.last_progress.store(now_nanos(), Ordering::Relaxed);
        }
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

/// The base of `last_progress`.
static ORIGIN: LazyLock<Instant> = LazyLock::new(Instant::now);

fn now_nanos() -> u64 {
    nanos_at(Instant::now())
}

fn nanos_at(at: Instant) -> u64 {
    at.saturating_duration_since(*ORIGIN)
        .as_nanos()
        .min(u128::from(u64::MAX)) as u64
}

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

    #[tokio::test(start_paused = true)]
    async fn a_host_that_makes_no_progress_gets_expensive_before_anything_completes() {
        let s = Arc::new(HostStats::default());
        s.observe(Duration::from_micros(300), DECAY);
        tokio::time::advance(Duration::from_secs(1)).await;
        let g = s.start();
        assert_eq!(
            s.stalled_for(),
            Duration::ZERO,
            "busy from now, not from the last answer"
        );
        tokio::time::advance(Duration::from_millis(50)).await;
        assert_eq!(s.stalled_for(), Duration::from_millis(50));
        assert_eq!(s.expected(), Some(Duration::from_millis(50)));
        // An answer is progress; idle is never stalled.
        s.observe(Duration::from_micros(300), DECAY);
        assert_eq!(s.stalled_for(), Duration::ZERO);
        drop(g);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(s.stalled_for(), Duration::ZERO);
        assert_eq!(s.expected(), s.latency());
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
