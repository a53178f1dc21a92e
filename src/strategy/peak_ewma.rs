//! `peakEwma`: power of two choices over latency times load.
//!
//! From Finagle, as in tower's `balance::p2c` with `load::PeakEwma`: pick two distinct
//! candidates at random and take the one with the lower cost, `latency × (in_flight + 1)`.
//! Comparing two random hosts instead of all of them avoids herding: every client choosing
//! the single best host at once would overload it. The in-flight count makes a host that is
//! momentarily busy less attractive before its latency estimate has caught up; the peak EWMA
//! (see `stats`) reacts to a slowdown at once. A host whose latency is not known is a coin
//! toss against any other, so it is measured soon without taking everything (tower gives an
//! unmeasured host a default cost instead).

use super::{BalanceStrategy, Candidate, Candidates, two_choices};

/// Two random choices, lower `latency × (in_flight + 1)` wins.
#[derive(Debug, Default, Clone, Copy)]
pub struct PeakEwma;

fn cost(c: &Candidate<'_>) -> Option<f64> {
    c.latency()
        .map(|l| l.as_secs_f64() * (c.in_flight() as f64 + 1.0))
}

impl BalanceStrategy for PeakEwma {
    fn pick(&self, candidates: &Candidates<'_>) -> usize {
        two_choices(candidates, 0.0, cost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::testing::Hosts;

    #[tokio::test(start_paused = true)]
    async fn the_slow_host_is_never_picked_over_a_fast_one() {
        let hosts = Hosts::new(&[Some(5), Some(100), Some(5)]);
        let h = hosts.histogram(&PeakEwma, 3000);
        // Host 1 loses every comparison it is in; the others split the picks.
        assert_eq!(h[1], 0, "{h:?}");
        assert!(h[0] > 1000 && h[2] > 1000, "{h:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn load_counts() {
        let hosts = Hosts::new(&[Some(5), Some(5)]);
        let _busy: Vec<_> = (0..3)
            .map(|_| {
                hosts.stats[0].in_flight_for_test();
            })
            .collect();
        assert_eq!(hosts.histogram(&PeakEwma, 100), [0, 100]);
    }
}
