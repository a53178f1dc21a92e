//! Strategies: which host a handle connects to next.
//!
//! A strategy sees the hosts that may be tried now (configured, not blacklisted, not already
//! tried for this connect) as [`Candidates`], in configuration order, and returns the index of
//! one. It never sees an empty list. The caller does the rest: it tries the pick, blacklists
//! it on failure and asks again with the pick removed, at once and without sleeping.
//!
//! | name | picks | from |
//! |---|---|---|
//! | `random` | uniformly at random | Connector/J's default |
//! | `bestResponseTime` | the faster of two random hosts; within 20 % counts as equal | Connector/J's name, tower's `p2c` |
//! | `roundRobin` | each in turn | |
//! | `serverAffinity` | first in `server_affinity_order`, else random | Connector/J |
//! | `sequential` | first in the given order (primary, then backups) | Connector/J failover, MariaDB `sequential` |
//! | `peakEwma` | the cheaper of two random hosts, cost = latency × (in flight + 1) | tower `p2c` + `PeakEwma`, Finagle |
//!
//! **No herding.** The strategies that balance never look for the single best host: every
//! handle in every process would agree on it at the same moment and send it everything
//! (Connector/J's `bestResponseTime` does, measured: one of three equal hosts took 74 % of the
//! statements, and a host that recovered went from 0 % to 100 % and back). The latency-aware
//! ones compare *two* random candidates (Mitzenmacher's power of two choices, as tower's and
//! Finagle's balancers do): the faster wins, so a slow host loses every comparison it is in
//! and gets nothing, yet no host can take more than twice its fair share, because it is in
//! only two of every `n` comparisons. Picking costs the same for 3 hosts or 1,000: two
//! random indices and their stats, nothing scanned.
//!
//! **Slow start.** A host that came back (see `stats/warmup.rs`) has a weight below 1 for a
//! while; it takes part in a pick only with that probability (otherwise the other candidate
//! wins, or the pick is drawn again), so its share grows with the weight instead of jumping.
//!
//! **Cost per pick** is a few atomic loads per sampled candidate; no allocation, no lock.

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
    fn pick(&self, candidates: &Candidates<'_>) -> usize;
}

/// What a strategy knows of one host.
#[derive(Clone, Copy)]
pub struct Candidate<'a> {
    addr: &'a HostAddr,
    position: usize,
    stats: &'a HostStats,
    slow_start: Duration,
}

impl<'a> Candidate<'a> {
    /// A candidate (public so that custom strategies can be unit-tested), without slow start.
    pub fn new(addr: &'a HostAddr, position: usize, stats: &'a HostStats) -> Candidate<'a> {
        Candidate {
            addr,
            position,
            stats,
            slow_start: Duration::ZERO,
        }
    }
    /// The same candidate, ramping up over `window` after it came back (see [`Self::weight`]).
    pub fn with_slow_start(mut self, window: Duration) -> Candidate<'a> {
        self.slow_start = window;
        self
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
    /// `None` if not known: never measured, or measured before a comeback, and not stalled.
    pub fn latency(&self) -> Option<Duration> {
        self.stats.expected()
    }
    /// Statements in flight on it across the process.
    pub fn in_flight(&self) -> usize {
        self.stats.in_flight()
    }
    /// Whether its latency was last measured more than a second ago (see `stats`): the
    /// latency-aware strategies then treat it as unknown now and then, to measure it again.
    pub fn is_stale(&self) -> bool {
        self.stats.is_stale()
    }
    /// Its slow-start weight in `(0, 1]`: below 1 for the slow-start window after it came
    /// back (off the blacklist, added, recovered from slowness), else 1.
    pub fn weight(&self) -> f64 {
        self.stats.weight(self.slow_start)
    }
    /// Whether it takes part in this pick: always at full weight, else with probability
    /// [`Self::weight`].
    pub fn takes_part(&self) -> bool {
        let w = self.weight();
        w >= 1.0 || random_unit() < w
    }
}

impl fmt::Debug for Candidate<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.addr)
    }
}

/// A list of hosts given to something that builds [`Candidate`]s on demand, so that a
/// strategy reading two of 1,000 hosts builds two.
pub(crate) trait HostList: Sync {
    /// Host `i` of the list (configuration order).
    fn candidate(&self, i: usize) -> Candidate<'_>;
}

/// The hosts a strategy chooses among, in configuration order; never empty when a strategy
/// sees it. Built without copying: [`Candidates::get`] makes each [`Candidate`] when asked.
#[derive(Clone, Copy)]
pub struct Candidates<'a> {
    from: From<'a>,
}

#[derive(Clone, Copy)]
enum From<'a> {
    Slice(&'a [Candidate<'a>]),
    /// The first `n` hosts of a list.
    All(&'a dyn HostList, usize),
    /// These hosts of a list.
    Some(&'a dyn HostList, &'a [usize]),
}

impl<'a> Candidates<'a> {
    /// Candidates from a slice (custom strategies' tests).
    pub fn new(candidates: &'a [Candidate<'a>]) -> Candidates<'a> {
        Candidates {
            from: From::Slice(candidates),
        }
    }

    /// The first `n` hosts of `list`.
    pub(crate) fn all(list: &'a dyn HostList, n: usize) -> Candidates<'a> {
        Candidates {
            from: From::All(list, n),
        }
    }

    /// The hosts of `list` at `indices`.
    pub(crate) fn some(list: &'a dyn HostList, indices: &'a [usize]) -> Candidates<'a> {
        Candidates {
            from: From::Some(list, indices),
        }
    }

    /// How many.
    pub fn len(&self) -> usize {
        match self.from {
            From::Slice(s) => s.len(),
            From::All(_, n) => n,
            From::Some(_, idx) => idx.len(),
        }
    }

    /// Whether there are none (a strategy is never asked then).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Candidate `i` (`i < len()`).
    pub fn get(&self, i: usize) -> Candidate<'a> {
        match self.from {
            From::Slice(s) => s[i],
            From::All(list, _) => list.candidate(i),
            From::Some(list, idx) => list.candidate(idx[i]),
        }
    }

    /// All of them, in order (a strategy that reads every host costs O(hosts) per pick).
    pub fn iter(&self) -> impl Iterator<Item = Candidate<'a>> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Two distinct random indices (`len() >= 2`).
    pub fn two(&self) -> (usize, usize) {
        let n = self.len();
        let a = random_index(n);
        (a, (a + 1 + random_index(n - 1)) % n)
    }
}

impl fmt::Debug for Candidates<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// In one comparison out of this many, a stale estimate counts as unknown (see `stats`).
const RE_MEASURE: f64 = 0.1;

/// The power of two choices over `cost` (lower wins), shared by the latency-aware strategies.
/// Two distinct random candidates; one that does not take part (slow start) loses; of two
/// that do, the one whose cost is lower by more than `margin` (a fraction: 0.2 means 20 %)
/// wins; otherwise (close costs, or a cost unknown) it is a coin toss, so that equal hosts
/// share evenly and an unmeasured host gets measured. A stale cost counts as unknown in
/// [`RE_MEASURE`] of comparisons: a host that was slow gets a statement now and then, so
/// that its recovery is seen, and a quiet process still ranks by what it knows.
pub(crate) fn two_choices(
    c: &Candidates<'_>,
    margin: f64,
    cost: impl Fn(&Candidate<'_>) -> Option<f64>,
) -> usize {
    if c.len() == 1 {
        return 0;
    }
    let (a, b) = c.two();
    let (ca, cb) = (c.get(a), c.get(b));
    match (ca.takes_part(), cb.takes_part()) {
        (true, false) => return a,
        (false, true) => return b,
        _ => {}
    }
    let known = |c: &Candidate<'_>| {
        // The draw first: staleness reads the clock, and is asked one time in ten.
        if random_unit() < RE_MEASURE && c.is_stale() {
            None
        } else {
            cost(c)
        }
    };
    if let (Some(x), Some(y)) = (known(&ca), known(&cb)) {
        if x < y * (1.0 - margin) {
            return a;
        }
        if y < x * (1.0 - margin) {
            return b;
        }
    }
    if random_unit() < 0.5 { a } else { b }
}

/// A draw among `c` (never empty) in which a slow-starting host takes part with its weight:
/// `draw()` proposes an index, kept if its candidate takes part; after a few refusals the last
/// proposal stands (every candidate may be warming).
pub(crate) fn weighted(c: &Candidates<'_>, mut draw: impl FnMut() -> usize) -> usize {
    const TRIES: usize = 4;
    let mut i = draw();
    for _ in 1..TRIES {
        if c.get(i).takes_part() {
            break;
        }
        i = draw();
    }
    i
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
    crate::random::below(n)
}

/// A uniformly random number in `[0, 1]`.
fn random_unit() -> f64 {
    crate::random::between(0.0, 1.0)
}

#[cfg(test)]
pub(crate) mod testing {
    //! Candidates with chosen latencies, for the strategies' unit tests. Those run on tokio's
    //! paused clock, so that no estimate goes stale (a second without a sample) while a slow
    //! machine runs thousands of picks.
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
                .map(|(i, (a, s))| Candidate::new(a, i, s).with_slow_start(SLOW_START))
                .collect()
        }

        /// How often each index is picked in `n` rounds.
        pub fn histogram(&self, s: &dyn BalanceStrategy, n: usize) -> Vec<usize> {
            let c = self.candidates();
            let c = Candidates::new(&c);
            let mut h = vec![0; c.len()];
            for _ in 0..n {
                h[s.pick(&c)] += 1;
            }
            h
        }
    }

    /// The slow-start window of the test candidates.
    pub(crate) const SLOW_START: Duration = Duration::from_secs(2);

    /// Picks by `s` among these candidates.
    pub(crate) fn pick(s: &dyn BalanceStrategy, c: &[Candidate<'_>]) -> usize {
        s.pick(&Candidates::new(c))
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{Hosts, SLOW_START};
    use super::*;

    const BALANCING: [StrategyKind; 4] = [
        StrategyKind::Random,
        StrategyKind::RoundRobin,
        StrategyKind::BestResponseTime,
        StrategyKind::PeakEwma,
    ];

    /// Host 0's share of `n` picks, as a multiple of its fair share.
    fn share(hosts: &Hosts, s: &dyn BalanceStrategy, n: usize) -> f64 {
        let h = hosts.histogram(s, n);
        h[0] as f64 / n as f64 * h.len() as f64
    }

    #[tokio::test(start_paused = true)]
    async fn a_host_that_came_back_ramps_up_under_every_balancing_strategy() {
        for kind in BALANCING {
            let hosts = Hosts::new(&[Some(1), Some(1), Some(1)]);
            let s = kind.build(&[]);
            hosts.stats[0].came_back();
            let at_once = share(&hosts, &*s, 30_000);
            assert!(
                at_once < 0.2,
                "{kind:?}: {at_once} of its fair share at once"
            );
            tokio::time::advance(SLOW_START / 2).await;
            let half = share(&hosts, &*s, 30_000);
            assert!((0.35..0.65).contains(&half), "{kind:?}: {half} half-way");
            tokio::time::advance(SLOW_START / 2).await;
            let after = share(&hosts, &*s, 30_000);
            assert!(
                (0.85..1.15).contains(&after),
                "{kind:?}: {after} after the ramp"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn equal_hosts_get_equal_shares_under_every_balancing_strategy() {
        for kind in BALANCING {
            // Estimates a few percent apart, as three equal servers' are.
            let hosts = Hosts::new(&[Some(100), Some(104), Some(97)]);
            let h = hosts.histogram(&*kind.build(&[]), 30_000);
            let max = *h.iter().max().unwrap_or(&0) as f64 / 10_000.0;
            // peakEwma ranks strictly (no margin): its fastest host wins every comparison.
            let cap = if kind == StrategyKind::PeakEwma {
                2.05
            } else {
                1.15
            };
            assert!(max < cap, "{kind:?}: {h:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn picking_reads_two_hosts_however_many_there_are() {
        struct Counting<'a>(&'a Hosts, std::sync::atomic::AtomicUsize);
        impl HostList for Counting<'_> {
            fn candidate(&self, i: usize) -> Candidate<'_> {
                self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Candidate::new(&self.0.addrs[i], i, &self.0.stats[i])
            }
        }
        let hosts = Hosts::new(&vec![Some(1); 1000]);
        for kind in [StrategyKind::BestResponseTime, StrategyKind::PeakEwma] {
            let list = Counting(&hosts, Default::default());
            let s = kind.build(&[]);
            for _ in 0..100 {
                s.pick(&Candidates::all(&list, 1000));
            }
            let reads = list.1.into_inner();
            assert!(
                reads <= 100 * 4,
                "{kind:?}: {reads} candidate reads for 100 picks"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn names_round_trip() {
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
