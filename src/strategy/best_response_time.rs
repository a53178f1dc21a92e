//! `bestResponseTime`: the host with the lowest recent response time.
//!
//! Connector/J's strategy of that name keeps only the last transaction's time per host; here
//! the time is the process-wide peak-EWMA estimate (see `stats.rs`), so one lucky or unlucky
//! statement does not flip the choice, and a host that slows down loses at once. A host never
//! measured (new, or back from the blacklist, whose estimate is reset) is tried first, so a
//! recovered host is measured again instead of being judged on its dying moments.

use super::{BalanceStrategy, Candidate, random_index};

/// Lowest latency estimate; unmeasured hosts first.
#[derive(Debug, Default, Clone, Copy)]
pub struct BestResponseTime;

impl BalanceStrategy for BestResponseTime {
    fn pick(&self, candidates: &[Candidate<'_>]) -> usize {
        let unmeasured: Vec<usize> = (0..candidates.len())
            .filter(|&i| candidates[i].latency().is_none())
            .collect();
        if !unmeasured.is_empty() {
            return unmeasured[random_index(unmeasured.len())];
        }
        candidates
            .iter()
            .enumerate()
            .min_by_key(|(_, c)| c.latency())
            .map_or(0, |(i, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::testing::Hosts;

    #[test]
    fn lowest_latency_wins() {
        let hosts = Hosts::new(&[Some(30), Some(5), Some(12)]);
        assert_eq!(hosts.histogram(&BestResponseTime, 10), [0, 10, 0]);
    }

    #[test]
    fn unmeasured_host_is_tried_first() {
        let hosts = Hosts::new(&[Some(1), None, Some(2)]);
        assert_eq!(hosts.histogram(&BestResponseTime, 10), [0, 10, 0]);
    }
}
