//! `sequential`: the first candidate in the given order.
//!
//! For a primary with backups (Connector/J's failover URLs, MariaDB's `sequential` mode): all
//! traffic goes to the first host that is not blacklisted. When the primary fails it is
//! blacklisted and the next host takes over at once; when its entry expires and a probe
//! succeeds, traffic returns to it.

use super::{BalanceStrategy, Candidates};

/// The lowest configured position wins.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sequential;

impl BalanceStrategy for Sequential {
    fn pick(&self, candidates: &Candidates<'_>) -> usize {
        candidates
            .iter()
            .enumerate()
            .min_by_key(|(_, c)| c.position())
            .map_or(0, |(i, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::testing::{Hosts, pick};

    #[tokio::test(start_paused = true)]
    async fn first_in_order() {
        let hosts = Hosts::new(&[Some(50), Some(1)]);
        assert_eq!(hosts.histogram(&Sequential, 10), [10, 0]);
        let c = hosts.candidates();
        assert_eq!(pick(&Sequential, &c[1..]), 0);
    }
}
