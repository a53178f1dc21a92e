//! `roundRobin`: each candidate in turn.
//!
//! The turn is counted per handle group (one counter per strategy instance), over the
//! candidates of the moment, so a blacklisted host is skipped without breaking the rotation.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::{BalanceStrategy, Candidates, weighted};

/// Rotates through the candidates.
#[derive(Debug, Default)]
pub struct RoundRobin {
    next: AtomicUsize,
}

impl BalanceStrategy for RoundRobin {
    fn pick(&self, candidates: &Candidates<'_>) -> usize {
        // A slow-starting host lets its turn pass (to the next) with the weight's odds.
        weighted(candidates, || {
            self.next.fetch_add(1, Ordering::Relaxed) % candidates.len()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::testing::{Hosts, pick};

    #[test]
    fn takes_turns() {
        let hosts = Hosts::new(&[None, None, None]);
        let rr = RoundRobin::default();
        let c = hosts.candidates();
        let picks: Vec<_> = (0..6).map(|_| pick(&rr, &c)).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
    }
}
