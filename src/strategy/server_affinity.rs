//! `serverAffinity`: a preference order, then random.
//!
//! As Connector/J's `ServerAffinityStrategy`: the first host of `server_affinity_order` that
//! is a candidate wins (a client near a server prefers it); when none of them is available,
//! any other candidate at random.

use super::{BalanceStrategy, Candidates, random_index};
use crate::addr::HostAddr;

/// Preference order, then random.
#[derive(Debug, Clone)]
pub struct ServerAffinity {
    order: Vec<HostAddr>,
}

impl ServerAffinity {
    /// Prefers hosts in this order.
    pub fn new(order: Vec<HostAddr>) -> ServerAffinity {
        ServerAffinity { order }
    }
}

impl BalanceStrategy for ServerAffinity {
    fn pick(&self, candidates: &Candidates<'_>) -> usize {
        self.order
            .iter()
            .find_map(|want| candidates.iter().position(|c| c.addr() == want))
            .unwrap_or_else(|| random_index(candidates.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::testing::{Hosts, pick};

    #[tokio::test(start_paused = true)]
    async fn prefers_the_order_then_any() {
        let hosts = Hosts::new(&[None, None, None]);
        let s = ServerAffinity::new(vec![hosts.addrs[2].clone(), hosts.addrs[1].clone()]);
        assert_eq!(hosts.histogram(&s, 20), [0, 0, 20]);
        let c = hosts.candidates();
        assert_eq!(pick(&s, &c[..2]), 1);
        assert_eq!(pick(&s, &c[..1]), 0);
    }
}
