//! The process-wide blacklist of failed hosts.
//!
//! One map for the whole process, `host:port -> entry`, as Connector/J's global blacklist and
//! MariaDB Connector/J's deny list: a host that failed for one handle is skipped by every
//! other handle at once, instead of each of them paying for the same dead host. Keys carry the
//! port (several servers on one IP are different hosts).
//!
//! An entry expires after the blacklist timeout. Expiry does not let every caller rush the
//! host at once: the first caller to see an expired entry is admitted as the single *probe*
//! (the half-open state of a circuit breaker) and the others keep skipping the host until that
//! probe ends: a success removes the entry, a failure renews it. A probe that never reports
//! (its task was cancelled) stops blocking others after the probe window.
//!
//! Expiry is jittered: an entry lasts between 80 % and 100 % of the blacklist timeout, drawn
//! afresh for each entry. Every process (and every separate blacklist) that saw a host die
//! at the same moment blacklisted it at the same moment; without jitter they would all probe
//! it in the same millisecond when it comes back, a thundering herd on a host that is just
//! starting. The timeout stays an upper bound.
//!
//! A host that comes off the list (its probe succeeded) slow-starts: see `stats/warmup.rs`.
//!
//! No caller ever waits here: every method returns at once. Reading the list when it is empty
//! (a healthy cluster) is one atomic load.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use dashmap::DashMap;
use tokio::time::Instant;

use crate::addr::HostAddr;
use crate::observe::{self, EventKind, metrics};
use crate::stats::HostStats;

/// A set of blacklisted hosts with expiry times. [`Blacklist::global`] is the one every handle
/// uses unless told otherwise.
#[derive(Debug, Default)]
pub struct Blacklist {
    entries: DashMap<HostAddr, Entry>,
    /// How many entries the map holds (expired ones too); never less than that, so that zero
    /// means empty.
    len: AtomicUsize,
}

/// The shortest entry, as a fraction of the timeout (see the module docs).
const JITTER_FLOOR: f64 = 0.8;

/// `timeout` shortened by a random amount of up to a fifth.
fn jittered(timeout: Duration) -> Duration {
    timeout.mul_f64(crate::random::between(JITTER_FLOOR, 1.0))
}

#[derive(Debug, Clone)]
struct Entry {
    until: Instant,
    probe_until: Option<Instant>,
    reason: String,
}

/// One blacklisted host, as reported by [`Blacklist::snapshot`].
#[derive(Debug, Clone)]
pub struct BlacklistEntry {
    /// The host.
    pub addr: HostAddr,
    /// When the entry expires.
    pub until: Instant,
    /// Time left until then.
    pub remaining: Duration,
    /// Why the host was blacklisted.
    pub reason: String,
}

/// Whether a caller may try a host now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Not blacklisted.
    Open,
    /// Blacklisted until the given time (or being probed by another caller).
    Blocked(Instant),
    /// Its entry expired and this caller is the one to try it.
    Probe,
}

static GLOBAL: LazyLock<Arc<Blacklist>> = LazyLock::new(|| Arc::new(Blacklist::default()));

impl Blacklist {
    /// The process-wide blacklist.
    pub fn global() -> Arc<Blacklist> {
        GLOBAL.clone()
    }

    /// A separate, empty blacklist (for tests, or to isolate a group of handles).
    pub fn new() -> Blacklist {
        Blacklist::default()
    }

    /// Puts `addr` on the list for between 80 % and 100 % of `timeout` (see the module docs;
    /// a zero timeout does nothing), or renews it.
    pub fn add(&self, addr: &HostAddr, timeout: Duration, reason: impl Into<String>) {
        if timeout.is_zero() {
            return;
        }
        let now = Instant::now();
        let reason = reason.into();
        // Counted before it is visible, so that the count never runs below the map.
        self.len.fetch_add(1, Ordering::AcqRel);
        // One atomic replace: of two concurrent adds, one sees the other's entry. An entry
        // that had expired counts as new (the host failed again after its time was up).
        let old = self.entries.insert(
            addr.clone(),
            Entry {
                until: now + jittered(timeout),
                probe_until: None,
                reason: reason.clone(),
            },
        );
        if old.is_some() {
            self.len.fetch_sub(1, Ordering::AcqRel);
        }
        if old.is_none_or(|o| o.until <= now) {
            tracing::warn!(host = %addr, ?timeout, %reason, "host blacklisted");
            metrics::blacklisted(addr);
            self.count();
            observe::emit(|| EventKind::HostBlacklisted {
                host: addr.clone(),
                timeout,
                reason,
            });
        }
    }

    /// Takes `addr` off the list. Returns whether it was on it. A host that comes back is
    /// measured again by the response-time strategies and slow-starts.
    pub fn remove(&self, addr: &HostAddr) -> bool {
        if self.is_empty() {
            return false;
        }
        let was = self.entries.remove(addr).is_some();
        if was {
            self.len.fetch_sub(1, Ordering::AcqRel);
            HostStats::of(addr).came_back();
            tracing::info!(host = %addr, "host off the blacklist");
            self.count();
            observe::emit(|| EventKind::HostBack { host: addr.clone() });
        }
        was
    }

    /// The process-wide list's size, as a gauge: hosts whose entry has not expired, counted
    /// whenever one is added or taken off (an entry that expires unprobed is counted until the
    /// next change).
    fn count(&self) {
        if std::ptr::eq(self, &**GLOBAL) {
            let now = Instant::now();
            metrics::blacklist_size(self.entries.iter().filter(|e| e.until > now).count());
        }
    }

    /// Empties the list.
    pub fn clear(&self) {
        self.entries.retain(|_, _| {
            self.len.fetch_sub(1, Ordering::AcqRel);
            false
        });
        self.count();
    }

    /// Whether the list holds no entry, expired or not (one atomic load).
    pub fn is_empty(&self) -> bool {
        self.len.load(Ordering::Acquire) == 0
    }

    /// Whether `addr` is blacklisted now (an expired entry does not count).
    pub fn contains(&self, addr: &HostAddr) -> bool {
        !self.is_empty()
            && self
                .entries
                .get(addr)
                .is_some_and(|e| e.until > Instant::now())
    }

    /// The hosts on the list now, soonest to expire first.
    pub fn snapshot(&self) -> Vec<BlacklistEntry> {
        let now = Instant::now();
        let mut v: Vec<_> = self
            .entries
            .iter()
            .filter(|e| e.until > now)
            .map(|e| BlacklistEntry {
                addr: e.key().clone(),
                until: e.until,
                remaining: e.until - now,
                reason: e.reason.clone(),
            })
            .collect();
        v.sort_by_key(|e| e.until);
        v
    }

    /// Decides whether the caller may try `addr`; an expired entry admits one probe at a time
    /// for `probe_window`.
    pub(crate) fn admit(&self, addr: &HostAddr, probe_window: Duration) -> Admission {
        if self.is_empty() {
            return Admission::Open;
        }
        let Some(mut e) = self.entries.get_mut(addr) else {
            return Admission::Open;
        };
        let now = Instant::now();
        if e.until > now {
            return Admission::Blocked(e.until);
        }
        match e.probe_until {
            Some(p) if p > now => Admission::Blocked(p),
            _ => {
                e.probe_until = Some(now + probe_window);
                Admission::Probe
            }
        }
    }

    /// Every entry's host and expiry, expired ones too (an expired entry stays until its
    /// host's probe ends). Empty at the cost of one atomic load when the list is.
    pub(crate) fn expiries(&self) -> Vec<(HostAddr, Instant)> {
        if self.is_empty() {
            return Vec::new();
        }
        self.entries
            .iter()
            .map(|e| (e.key().clone(), e.until))
            .collect()
    }

    /// When `addr`'s entry expires, if it has one.
    pub(crate) fn expiry(&self, addr: &HostAddr) -> Option<Instant> {
        if self.is_empty() {
            return None;
        }
        self.entries.get(addr).map(|e| e.until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(port: u16) -> HostAddr {
        HostAddr::new("127.0.0.1", port)
    }

    #[tokio::test(start_paused = true)]
    async fn entries_expire() {
        let b = Blacklist::new();
        b.add(&host(1), Duration::from_secs(5), "refused");
        assert!(b.contains(&host(1)));
        let remaining = b.snapshot()[0].remaining;
        assert!(
            (Duration::from_secs(4)..=Duration::from_secs(5)).contains(&remaining),
            "{remaining:?}"
        );
        tokio::time::advance(remaining - Duration::from_millis(1)).await;
        assert!(b.contains(&host(1)));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(!b.contains(&host(1)));
        assert!(b.snapshot().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn expiry_is_spread_over_the_last_fifth_of_the_timeout() {
        // Many processes that blacklisted a host at the same moment: their entries expire
        // spread out, not in the same millisecond.
        let lists: Vec<Blacklist> = (0..1000).map(|_| Blacklist::new()).collect();
        for b in &lists {
            b.add(&host(1), Duration::from_secs(10), "down");
        }
        let mut per_100ms = [0usize; 20];
        for b in &lists {
            let left = b.snapshot()[0].remaining;
            assert!(left >= Duration::from_secs(8) && left <= Duration::from_secs(10));
            let slot = ((left - Duration::from_secs(8)).as_millis() / 100).min(19) as usize;
            per_100ms[slot] += 1;
        }
        assert!(per_100ms.iter().all(|&n| n < 120), "{per_100ms:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_count_follows_the_map() {
        let b = Blacklist::new();
        assert!(b.is_empty());
        b.add(&host(1), Duration::from_secs(5), "x");
        b.add(&host(1), Duration::from_secs(5), "again");
        b.add(&host(2), Duration::from_secs(5), "x");
        assert!(!b.is_empty());
        assert!(b.remove(&host(1)));
        assert!(!b.remove(&host(1)));
        assert!(!b.is_empty());
        b.clear();
        assert!(b.is_empty());
        assert_eq!(b.admit(&host(2), Duration::from_secs(1)), Admission::Open);
    }

    #[tokio::test(start_paused = true)]
    async fn keyed_by_host_and_port() {
        let b = Blacklist::new();
        b.add(&host(1), Duration::from_secs(5), "x");
        assert!(!b.contains(&host(2)));
        assert_eq!(b.admit(&host(2), Duration::from_secs(1)), Admission::Open);
    }

    #[tokio::test(start_paused = true)]
    async fn expiry_admits_one_probe_at_a_time() {
        let b = Blacklist::new();
        let window = Duration::from_secs(2);
        b.add(&host(1), Duration::from_secs(5), "x");
        assert!(matches!(b.admit(&host(1), window), Admission::Blocked(_)));
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(b.admit(&host(1), window), Admission::Probe);
        // A second caller while the probe runs is turned away.
        assert!(matches!(b.admit(&host(1), window), Admission::Blocked(_)));
        // A probe that never reports stops blocking after the window.
        tokio::time::advance(window).await;
        assert_eq!(b.admit(&host(1), window), Admission::Probe);
        // A successful probe removes the entry.
        assert!(b.remove(&host(1)));
        assert_eq!(b.admit(&host(1), window), Admission::Open);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_renews_the_entry() {
        let b = Blacklist::new();
        b.add(&host(1), Duration::from_secs(5), "x");
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(b.admit(&host(1), Duration::from_secs(1)), Admission::Probe);
        b.add(&host(1), Duration::from_secs(5), "still down");
        assert!(b.contains(&host(1)));
        assert_eq!(b.snapshot()[0].reason, "still down");
    }

    #[tokio::test(start_paused = true)]
    async fn zero_timeout_means_off() {
        let b = Blacklist::new();
        b.add(&host(1), Duration::ZERO, "x");
        assert!(!b.contains(&host(1)));
    }
}
