//! `bestResponseTime`: prefer the host that answers fastest, without herding onto it.
//!
//! Connector/J's strategy of that name sends every new connection to the host with the lowest
//! last transaction time. Every handle agrees on that host at the same moment, so it takes
//! everything until it slows down, then the next one does: a herd (measured here before this
//! rewrite: 101k, 33k and 1.4k statements over three equal hosts; a recovered host went from
//! 0 % to 100 % of the traffic). Here the time is the process-wide peak-EWMA estimate (see
//! `stats`), and the pick compares two random hosts (see the module docs of `strategy`): the
//! faster wins when it is faster by more than [`MARGIN`], so a slow host gets nothing while
//! equal hosts, whose estimates differ only by noise, share evenly. A host never measured
//! (new, or back from the blacklist) is a coin toss against any other, and so, now and then,
//! is one not measured for a second, so that a host that was slow is measured again.

use super::{BalanceStrategy, Candidates, two_choices};

/// Within this fraction of each other, two hosts count as equally fast: loopback and LAN
/// round trips jitter by more than 10 % from one moment to the next.
pub const MARGIN: f64 = 0.2;

/// The faster of two random hosts.
#[derive(Debug, Default, Clone, Copy)]
pub struct BestResponseTime;

impl BalanceStrategy for BestResponseTime {
    fn pick(&self, candidates: &Candidates<'_>) -> usize {
        two_choices(candidates, MARGIN, |c| c.latency().map(|l| l.as_secs_f64()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::testing::Hosts;

    #[tokio::test(start_paused = true)]
    async fn a_slow_host_gets_nothing_and_the_fast_ones_share() {
        let hosts = Hosts::new(&[Some(30), Some(5), Some(5)]);
        let h = hosts.histogram(&BestResponseTime, 3000);
        assert_eq!(h[0], 0, "{h:?}");
        assert!(h[1] > 1300 && h[2] > 1300, "{h:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn equal_hosts_share_evenly_and_the_fastest_is_capped_at_twice_its_share() {
        // 10 % apart: equal within the margin.
        let hosts = Hosts::new(&[Some(10), Some(11), Some(11)]);
        let h = hosts.histogram(&BestResponseTime, 30_000);
        assert!(h.iter().all(|&n| (8_500..11_500).contains(&n)), "{h:?}");
        // Clearly faster: it wins every comparison it is in, two of three, and no more.
        let hosts = Hosts::new(&[Some(5), Some(10), Some(10)]);
        let h = hosts.histogram(&BestResponseTime, 30_000);
        assert!((19_000..21_000).contains(&h[0]), "{h:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_unmeasured_host_is_measured_without_taking_everything() {
        let hosts = Hosts::new(&[Some(1), None, Some(1)]);
        let h = hosts.histogram(&BestResponseTime, 30_000);
        assert!((8_500..11_500).contains(&h[1]), "{h:?}");
    }
}
