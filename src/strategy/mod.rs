//! Strategies: which host a handle connects to next.
//!
//! A strategy sees the hosts that may be tried now (configured, not blacklisted, not already
//! tried for this connect) as [`Candidate`]s, in configuration order, and returns the index of
//! one. It never sees an empty slice. The caller does the rest: it tries the pick, blacklists
//! it on failure and asks again with the pick removed, at once and without sleeping.
//!
//! | name | picks | from |
//! |---|---|---|
//! | `random` | uniformly at random | Connector/J's default |
//! | `bestResponseTime` | lowest decaying response-time average; an unmeasured host first | Connector/J, with a real average |
//! | `roundRobin` | each in turn | |
//! | `serverAffinity` | first in `server_affinity_order`, else random | Connector/J |
//! | `sequential` | first in the given order (primary, then backups) | Connector/J failover, MariaDB `sequential` |
//! | `peakEwma` | the cheaper of two random hosts, cost = latency × (in flight + 1) | tower `p2c` + `PeakEwma`, Finagle |

mod best_response_time;
mod peak_ewma;
mod random;
mod round_robin;
mod sequential;
mod server_affinity;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use self::best_response_time::BestResponseTime;
pub use self::peak_ewma::PeakEwma;
pub use self::random::Random;
pub use self::round_robin::RoundRobin;
pub use self::sequential::Sequential;
pub use self::server_affinity::ServerAffinity;
use crate::addr::HostAddr;
use crate::stats::HostStats;

/// Chooses a host among candidates.
pub trait BalanceStrategy: Send + Sync {
    /// Returns the index in `candidates` (never empty) of the host to try.
    fn pick(&self, candidates: &[Candidate<'_>]) -> usize;
}

/// What a strategy knows of one host.
#[derive(Clone, Copy)]
pub struct Candidate<'a> {
    addr: &'a HostAddr,
    position: usize,
    stats: &'a HostStats,
}

impl<'a> Candidate<'a> {
    /// A candidate (public so that custom strategies can be unit-tested).
    pub fn new(addr: &'a HostAddr, position: usize, stats: &'a HostStats) -> Candidate<'a> {
        Candidate {
            addr,
            position,
            stats,
        }
    }
    /// The host.
    pub fn addr(&self) -> &'a HostAddr {
        self.addr
    }
    /// Its position in the configured host list.
    pub fn position(&self) -> usize {
        self.position
    }
    /// What a statement sent to it now should expect: its response-time estimate, or, if it
    /// has statements in flight and has completed none for longer than that, how long it has
    /// made no progress (a stalled host is expensive at once, before anything completes).
    /// `None` if never measured (or measured before a recovery) and not stalled.
    pub fn latency(&self) -> Option<Duration> {
        self.stats.expected()
    }
    /// Statements in flight on it across the process.
    pub fn in_flight(&self) -> usize {
        self.stats.in_flight()
    }
}

impl fmt::Debug for Candidate<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.addr)
    }
}

/// The built-in strategies, by the names the `strategy` option takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrategyKind {
    /// Uniformly at random.
    Random,
    /// Lowest recent response time.
    BestResponseTime,
    /// Each host in turn.
    RoundRobin,
    /// `server_affinity_order` first, then random.
    ServerAffinity,
    /// The given order.
    Sequential,
    /// Power of two choices over peak-EWMA latency times load.
    PeakEwma,
}

const NAMES: &[(StrategyKind, &str)] = &[
    (StrategyKind::Random, "random"),
    (StrategyKind::BestResponseTime, "bestResponseTime"),
    (StrategyKind::RoundRobin, "roundRobin"),
    (StrategyKind::ServerAffinity, "serverAffinity"),
    (StrategyKind::Sequential, "sequential"),
    (StrategyKind::PeakEwma, "peakEwma"),
];

impl StrategyKind {
    /// The name used in URLs.
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(k, _)| *k == self)
            .map_or("random", |(_, n)| n)
    }

    /// Reads a name: ours in camelCase or snake_case, case-insensitive, or `p2c`.
    pub fn parse(value: &str) -> Result<StrategyKind, String> {
        let squashed: String = value
            .chars()
            .filter(|c| *c != '_' && *c != '-')
            .collect::<String>()
            .to_ascii_lowercase();
        if squashed == "p2c" {
            return Ok(StrategyKind::PeakEwma);
        }
        NAMES
            .iter()
            .find(|(_, n)| n.to_ascii_lowercase() == squashed)
            .map(|(k, _)| *k)
            .ok_or_else(|| {
                let names: Vec<_> = NAMES.iter().map(|(_, n)| *n).collect();
                format!("unknown strategy `{value}`; one of {}", names.join(", "))
            })
    }

    /// A fresh instance; `affinity` is the preference order for `serverAffinity`.
    pub(crate) fn build(self, affinity: &[HostAddr]) -> Arc<dyn BalanceStrategy> {
        match self {
            StrategyKind::Random => Arc::new(Random),
            StrategyKind::BestResponseTime => Arc::new(BestResponseTime),
            StrategyKind::RoundRobin => Arc::new(RoundRobin::default()),
            StrategyKind::ServerAffinity => Arc::new(ServerAffinity::new(affinity.to_vec())),
            StrategyKind::Sequential => Arc::new(Sequential),
            StrategyKind::PeakEwma => Arc::new(PeakEwma),
        }
    }
}

/// A uniformly random index below `n` (n > 0).
fn random_index(n: usize) -> usize {
    use rand::RngExt;
    rand::rng().random_range(0..n)
}

#[cfg(test)]
pub(crate) mod testing {
    //! Candidates with chosen latencies, for the strategies' unit tests.
    use super::*;

    pub(crate) struct Hosts {
        pub addrs: Vec<HostAddr>,
        pub stats: Vec<HostStats>,
    }

    impl Hosts {
        pub fn new(latencies_ms: &[Option<u64>]) -> Hosts {
            let addrs = (0..latencies_ms.len())
                .map(|i| HostAddr::new("127.0.0.1", 4000 + i as u16))
                .collect();
            let stats = latencies_ms
                .iter()
                .map(|l| {
                    let s = HostStats::default();
                    if let Some(ms) = l {
                        s.observe(Duration::from_millis(*ms), Duration::from_secs(10));
                    }
                    s
                })
                .collect();
            Hosts { addrs, stats }
        }

        pub fn candidates(&self) -> Vec<Candidate<'_>> {
            self.addrs
                .iter()
                .zip(&self.stats)
                .enumerate()
                .map(|(i, (a, s))| Candidate::new(a, i, s))
                .collect()
        }

        /// How often each index is picked in `n` rounds.
        pub fn histogram(&self, s: &dyn BalanceStrategy, n: usize) -> Vec<usize> {
            let c = self.candidates();
            let mut h = vec![0; c.len()];
            for _ in 0..n {
                h[s.pick(&c)] += 1;
            }
            h
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for (k, n) in NAMES {
            assert_eq!(StrategyKind::parse(n), Ok(*k));
            assert_eq!(k.name(), *n);
        }
        assert_eq!(
            StrategyKind::parse("best_response_time"),
            Ok(StrategyKind::BestResponseTime)
        );
        assert_eq!(StrategyKind::parse("P2C"), Ok(StrategyKind::PeakEwma));
        assert!(
            StrategyKind::parse("fastest")
                .unwrap_err()
                .contains("bestResponseTime")
        );
    }
}
