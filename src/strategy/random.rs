//! `random`: every candidate equally likely.
//!
//! Connector/J's default. With a host removed (blacklisted) its share spreads evenly over all
//! the others, rather than landing on the next host in the list. A slow-starting host is
//! drawn with its weight (see the module docs of `strategy`).

use super::{BalanceStrategy, Candidates, random_index, weighted};

/// Uniformly random choice.
#[derive(Debug, Default, Clone, Copy)]
pub struct Random;

impl BalanceStrategy for Random {
    fn pick(&self, candidates: &Candidates<'_>) -> usize {
        weighted(candidates, || random_index(candidates.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::testing::Hosts;

    #[tokio::test(start_paused = true)]
    async fn spreads_evenly() {
        let hosts = Hosts::new(&[None, None, None]);
        let h = hosts.histogram(&Random, 3000);
        assert!(h.iter().all(|&n| n > 800), "{h:?}");
    }
}
