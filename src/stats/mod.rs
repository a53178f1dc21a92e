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
//! An estimate also goes *stale*: a host that loses every comparison (it was slow) gets no
//! statements and so no samples, and its old estimate would keep it out after it recovered.
//! So an estimate without a sample for [`STALE`] is *stale*, and the strategies count it as
//! unknown in one comparison out of ten (see `strategy`): the host then gets a statement
//! now and then, a probe by real traffic (a few a second in a busy process, where the first
//! answer makes it fresh again; rarely in a quiet one, which keeps ranking by what it
//! knows). The first fresh sample replaces the stale estimate instead of blending into it,
//! and if it shows the host recovered (less than half the old estimate) the host
//! slow-starts (`warmup.rs`).
//!
//! Nothing here locks: the estimate is two atomics, updated load-then-store. Two samples
//! that race may lose one of them, which an average over hundreds does not notice.
//!
//! The registry is keyed by [`HostAddr`] (host and port), like the blacklist. Time comes from
//! `tokio::time::Instant`, so tests drive it with a paused clock.

mod warmup;
mod window;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::Duration;

use dashmap::DashMap;
use tokio::time::Instant;

use self::warmup::Warmup;
pub use self::warmup::returns;
use self::window::Window;
use crate::addr::HostAddr;
use crate::observe::metrics::HostMetrics;

/// What is known about one host's recent behaviour.
#[derive(Debug)]
pub struct HostStats {
    /// The estimate in seconds, as `f64` bits ([`NO_ESTIMATE`]: none).
    rtt: AtomicU64,
    /// When the estimate last took a sample, in nanoseconds since [`ORIGIN`].
    rtt_at: AtomicU64,
    /// Slow start after a comeback.
    warmup: Warmup,
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

impl Default for HostStats {
    fn default() -> HostStats {
        HostStats {
            rtt: AtomicU64::new(NO_ESTIMATE),
            rtt_at: AtomicU64::new(0),
            warmup: Warmup::default(),
            in_flight: AtomicUsize::new(0),
            statements: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            last_progress: AtomicU64::new(0),
            window: Window::default(),
            hedge_delay: Default::default(),
            metrics: OnceLock::new(),
            addr: OnceLock::new(),
        }
    }
}

/// The bits of "no estimate" (a NaN no arithmetic here produces).
const NO_ESTIMATE: u64 = u64::MAX;

/// An estimate without a sample for this long is unknown to the strategies (see the module
/// docs): long enough that a host in steady use never goes stale, short enough that a
/// recovered host is found within a second.
pub const STALE: Duration = Duration::from_secs(1);

/// A fresh sample below this fraction of a stale estimate, and at least [`RECOVERED_BY`]
/// seconds below it, means the host recovered (sub-millisecond jitter on a quiet host does
/// not).
const RECOVERED: f64 = 0.5;
const RECOVERED_BY: f64 = 0.5e-3;

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
        self.estimate()
            .map(|secs| Duration::from_secs_f64(secs.max(0.0)))
    }

    fn estimate(&self) -> Option<f64> {
        match self.rtt.load(Ordering::Relaxed) {
            NO_ESTIMATE => None,
            bits => Some(f64::from_bits(bits)),
        }
    }

    /// What a statement sent now should expect: the estimate, or the time since the host
    /// last made progress while it has statements in flight, whichever is longer. `None`
    /// when not known: never measured, or reset after a comeback, and not stalled.
    pub fn expected(&self) -> Option<Duration> {
        let stall = self.stalled_for();
        match self.latency() {
            Some(l) => Some(l.max(stall)),
            None if !stall.is_zero() => Some(stall),
            None => None,
        }
    }

    /// Whether the estimate is stale: no sample for a second (and nothing in flight, which
    /// the stall clock covers). The strategies re-measure such a host now and then.
    pub fn is_stale(&self) -> bool {
        let at = self.rtt_at.load(Ordering::Relaxed);
        self.in_flight() == 0 && now_nanos().saturating_sub(at) >= STALE.as_nanos() as u64
    }

    /// The slow-start weight for a ramp of `window`: 1 unless the host came back less than
    /// `window` ago (see `warmup.rs`).
    pub fn weight(&self, window: Duration) -> f64 {
        self.warmup.weight(window)
    }

    /// Whether the host is slow-starting.
    pub fn is_warming(&self) -> bool {
        self.warmup.is_warming()
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
        now: Instant,
        compute: impl FnOnce() -> Duration,
    ) -> Duration {
        let now = nanos_at(now);
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
        self.observe_at(rtt, Instant::now(), decay);
    }

    /// [`Self::observe`] for a statement that ended `now` (the caller's clock reading).
    pub(crate) fn observe_at(&self, rtt: Duration, now: Instant, decay: Duration) {
        self.statements.fetch_add(1, Ordering::Relaxed);
        if cfg!(feature = "metrics") {
            self.metrics().statement(rtt);
        }
        self.last_progress.store(nanos_at(now), Ordering::Relaxed);
        self.window.record(rtt, now);
        let rtt = rtt.as_secs_f64();
        let now = nanos_at(now);
        let elapsed = now.saturating_sub(self.rtt_at.load(Ordering::Relaxed));
        let estimate = match self.estimate() {
            None => rtt,
            Some(prev) if rtt > prev => rtt,
            Some(prev) if elapsed >= STALE.as_nanos() as u64 => {
                if rtt < prev * RECOVERED && prev - rtt > RECOVERED_BY {
                    tracing::debug!(host = ?self.addr.get(), was = prev, now = rtt, "host recovered: slow start");
                    self.warmup.start();
                }
                rtt
            }
            Some(prev) => {
                let x = (elapsed as f64 / 1e9) / decay.as_secs_f64().max(1e-9);
                // Samples microseconds apart against a decay of seconds: `1 - x` is exp(-x)
                // to within x²/2, and costs no call to `exp` per statement.
                let w = if x < 1e-3 { 1.0 - x } else { (-x).exp() };
                prev * w + rtt * (1.0 - w)
            }
        };
        self.rtt.store(estimate.to_bits(), Ordering::Relaxed);
        self.rtt_at.store(now, Ordering::Relaxed);
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
        self.rtt.store(NO_ESTIMATE, Ordering::Relaxed);
    }

    /// The host is back (off the blacklist, or added): measured afresh, and slow-started.
    pub(crate) fn came_back(&self) {
        self.reset_latency();
        self.warmup.start();
    }

    #[cfg(test)]
    pub(crate) fn in_flight_for_test(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// Marks a statement in flight until the guard drops.
    #[cfg(test)]
    pub(crate) fn start(self: &Arc<Self>) -> InFlight {
        self.start_at(Instant::now())
    }

    /// [`Self::start`] for a statement sent `now` (the caller's clock reading).
    pub(crate) fn start_at(self: &Arc<Self>, now: Instant) -> InFlight {
        if self.in_flight.fetch_add(1, Ordering::Relaxed) == 0 {
            // Idle until now: the stall clock starts here, not at the last completion.
            self.last_progress.store(nanos_at(now), Ordering::Relaxed);
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
        // A decay shorter than `STALE`, so that samples blend instead of replacing.
        const DECAY: Duration = Duration::from_millis(200);
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
    async fn an_estimate_goes_stale_and_a_fresh_sample_replaces_it() {
        let s = HostStats::default();
        s.observe(Duration::from_millis(5), DECAY);
        tokio::time::advance(STALE - Duration::from_millis(1)).await;
        assert_eq!(s.expected(), Some(Duration::from_millis(5)));
        assert!(!s.is_stale());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(s.is_stale(), "not measured for STALE");
        assert_eq!(s.expected(), Some(Duration::from_millis(5)), "still known");
        // A host that was slow and answers fast now: replaced, not blended over 10 s, and
        // it slow-starts.
        let returns = returns();
        s.observe(Duration::from_micros(300), DECAY);
        assert_eq!(s.expected(), Some(Duration::from_micros(300)));
        assert!(s.is_warming() && super::returns() > returns);
        assert!(s.weight(Duration::from_secs(2)) < 0.2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_host_with_jitter_does_not_slow_start() {
        let s = HostStats::default();
        s.observe(Duration::from_micros(800), DECAY);
        tokio::time::advance(STALE * 2).await;
        s.observe(Duration::from_micros(300), DECAY);
        assert!(!s.is_warming(), "0.5 ms apart: noise, not a recovery");
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
        tokio::time::advance(Duration::from_millis(500)).await;
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
