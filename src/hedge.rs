//! Hedged reads: when to send a read again to another host, and how many times.
//!
//! "The Tail at Scale" (Dean and Barroso, 2013) sends a backup request once the first has
//! been outstanding longer than the 95th-percentile expected latency, and takes whichever
//! answer comes first; Google measured p99.9 going from 1,800 ms to 74 ms for 2 % more
//! requests. Finagle's `BackupRequestFilter` and gRPC's hedging policy (gRFC A6) do the same
//! for idempotent requests, with a budget so that a slow cluster is not sent twice the work.
//! Here it answers the failure that costs most: a host that hangs (SIGSTOP, a stalled disk)
//! accepts the statement and never answers, and without a hedge the caller waits for
//! `socket_timeout`.
//!
//! - **The delay** ([`hedge_delay`]) is the 99th percentile of the host's recent statement
//!   times (`stats/window.rs`), clamped to `[hedge_delay_min, hedge_delay_max]`. The floor
//!   keeps ordinary jitter (a busy machine's scheduler) from hedging; the cap bounds what a
//!   hung host costs a read: the cap plus one answer from another host. With fewer than
//!   [`MIN_SAMPLES`] recent samples the cap is used, so a cold host is not hedged on noise.
//! - **The budget** ([`HedgeBudget`]) is a token bucket in the style of Finagle's
//!   `RetryBudget`: each hedge-eligible statement deposits `hedge_budget` percent of a token,
//!   each hedge withdraws one, and a floor of [`FLOOR_PER_SEC`] tokens a second keeps hedging
//!   possible at low traffic. The balance is capped at [`MAX_BALANCE`] tokens (a burst of that
//!   many hedges), so credit saved in a quiet hour cannot double a whole slow minute.
//!
//! Only retry-safe reads are hedged: the classifier's autocommit reads without locking
//! clauses or side effects, outside a transaction and a pinned session, through a collecting
//! method. The losing attempt's connection is dropped, never reused: mysql_async would hand
//! its late result to the next statement.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::stats::HostStats;

/// Below this many recent samples a host's percentile is not trusted; the cap is used.
pub(crate) const MIN_SAMPLES: u64 = 50;
/// Tokens a second the budget gains whatever the traffic.
pub(crate) const FLOOR_PER_SEC: u64 = 10;
/// The most tokens the budget holds.
pub(crate) const MAX_BALANCE: u64 = 100;
/// Statements a handle counts before depositing their share at once.
pub(crate) const DEPOSIT_BATCH: u64 = 16;
/// Balances are kept in thousandths of a token (integers: no rounding drift).
const MILLI: u64 = 1000;

/// How long a read on `stats`' host may be outstanding before it is hedged. Read from the
/// histogram at most every [`REFRESH`] per host (a scan of its buckets), else cached.
pub(crate) fn hedge_delay(
    stats: &HostStats,
    min: Duration,
    max: Duration,
    now: tokio::time::Instant,
) -> Duration {
    stats.cached_hedge_delay(REFRESH, now, || match stats.recent_quantile(0.99) {
        Some((p99, n)) if n >= MIN_SAMPLES => p99.clamp(min, max.max(min)),
        _ => max.max(min),
    })
}

/// How long a computed hedge delay is used before the histogram is read again.
pub(crate) const REFRESH: Duration = Duration::from_millis(100);

/// The token bucket that bounds hedges (see the module docs). Deposits, one per eligible
/// statement, are a relaxed atomic add; the floor is added when a hedge asks for a token,
/// which is rare, under a lock.
#[derive(Debug)]
pub(crate) struct HedgeBudget {
    /// Thousandths of a token each statement deposits.
    per_statement: u64,
    /// The balance, in thousandths.
    balance: AtomicU64,
    /// When the floor was last added.
    floor_at: Mutex<Instant>,
}

impl HedgeBudget {
    /// A budget allowing `percent` % of statements to be hedged, plus the floor.
    pub(crate) fn new(percent: u32) -> HedgeBudget {
        HedgeBudget {
            per_statement: u64::from(percent) * MILLI / 100,
            balance: AtomicU64::new(FLOOR_PER_SEC * MILLI),
            floor_at: Mutex::new(Instant::now()),
        }
    }

    /// `n` hedge-eligible statements started: credit their share (up to the cap). Handles
    /// deposit in batches of [`DEPOSIT_BATCH`], so that statements on every core do not
    /// contend on this one counter.
    pub(crate) fn deposit(&self, n: u64) {
        if self.balance.load(Ordering::Relaxed) < MAX_BALANCE * MILLI {
            self.balance
                .fetch_add(self.per_statement * n, Ordering::Relaxed);
        }
    }

    /// Takes one token for a hedge; `false` when the budget is spent.
    pub(crate) fn withdraw(&self) -> bool {
        let mut at = self.floor_at.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let nanos = now.saturating_duration_since(*at).as_nanos();
        let floor = (nanos * u128::from(FLOOR_PER_SEC * MILLI) / 1_000_000_000) as u64;
        *at = now;
        self.balance
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |b| {
                let b = (b + floor).min(MAX_BALANCE * MILLI);
                (b >= MILLI).then(|| b - MILLI)
            })
            .map_or_else(
                |b| {
                    // Spent: keep the floor that was added.
                    let _ = self
                        .balance
                        .fetch_max((b + floor).min(MAX_BALANCE * MILLI), Ordering::AcqRel);
                    false
                },
                |_| true,
            )
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    const MIN: Duration = Duration::from_millis(5);
    const MAX: Duration = Duration::from_millis(80);

    #[tokio::test(start_paused = true)]
    async fn the_delay_follows_the_hosts_tail_within_the_floor_and_the_cap() {
        let s = Arc::new(HostStats::default());
        assert_eq!(
            hedge_delay(&s, MIN, MAX, tokio::time::Instant::now()),
            MAX,
            "no samples: the cap"
        );
        for _ in 0..MIN_SAMPLES {
            s.observe(Duration::from_micros(300), Duration::from_secs(10));
        }
        assert_eq!(
            hedge_delay(&s, MIN, MAX, tokio::time::Instant::now()),
            MAX,
            "cached for a moment"
        );
        tokio::time::advance(REFRESH).await;
        assert_eq!(
            hedge_delay(&s, MIN, MAX, tokio::time::Instant::now()),
            MIN,
            "a fast host: the floor"
        );
        for _ in 0..10 {
            s.observe(Duration::from_millis(20), Duration::from_secs(10));
        }
        tokio::time::advance(REFRESH).await;
        let d = hedge_delay(&s, MIN, MAX, tokio::time::Instant::now());
        assert!(
            d >= Duration::from_millis(20) && d < Duration::from_millis(24),
            "{d:?}"
        );
        for _ in 0..100 {
            s.observe(Duration::from_secs(1), Duration::from_secs(10));
        }
        tokio::time::advance(REFRESH).await;
        assert_eq!(
            hedge_delay(&s, MIN, MAX, tokio::time::Instant::now()),
            MAX,
            "a slow host: the cap"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_allows_its_share_plus_a_floor_and_no_more() {
        let b = HedgeBudget::new(5);
        // The opening balance is one second's floor.
        let mut granted = 0;
        for _ in 0..100 {
            granted += usize::from(b.withdraw());
        }
        assert_eq!(granted, 10);
        // 1,000 statements earn 50 hedges (5 %); time stands still, so no floor is added.
        for _ in 0..1000 {
            b.deposit(1);
        }
        let mut granted = 0;
        for _ in 0..1000 {
            granted += usize::from(b.withdraw());
        }
        assert_eq!(granted, 50);
        // With no traffic, the floor: 10 a second.
        tokio::time::advance(Duration::from_secs(2)).await;
        let mut granted = 0;
        for _ in 0..1000 {
            granted += usize::from(b.withdraw());
        }
        assert_eq!(granted, 20);
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_hour_saves_no_more_than_the_cap() {
        let b = HedgeBudget::new(5);
        tokio::time::advance(Duration::from_secs(3600)).await;
        let mut granted = 0;
        for _ in 0..10_000 {
            granted += usize::from(b.withdraw());
        }
        assert_eq!(granted, MAX_BALANCE as usize);
    }
}
