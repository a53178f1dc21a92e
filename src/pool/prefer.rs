//! A checkout that goes to one of a few given hosts when it can: how a replication pool's
//! causal reads go to a replica known to have the pool's last write.
//!
//! The hosts are a preference, not a restriction: the strategy picks among them, and if none
//! of them can give a connection (full, down, blacklisted) the checkout goes on as any other
//! would. The caller looks at the host it got. Only the handle's first connection is steered;
//! later ones (after a lost connection, a rebalance) are the pool's ordinary checkouts, held to
//! the same promise by the pool's `recheck` hook.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_core::future::BoxFuture;
use mysql_async::Conn;
use tokio::time::Instant;

use super::PoolCore;
use crate::addr::HostAddr;
use crate::balancer::Balancer;
use crate::conn::{Checked, LoadBalancedConnection, SessionState, Source};
use crate::error::Error;

impl PoolCore {
    /// A checkout (without the hooks' `get_conn`) that tries `prefer` first: the strategy
    /// picks among those of them that are in the pool and not blacklisted; when none can
    /// serve, any host. Bounded like every checkout.
    pub(crate) async fn checkout_preferring(
        self: &Arc<Self>,
        prefer: &[HostAddr],
    ) -> Result<LoadBalancedConnection, Error> {
        if prefer.is_empty() {
            return self.checkout_plain().await;
        }
        let source = Arc::new(Preferring {
            core: self.clone(),
            prefer: prefer.to_vec(),
            steered: AtomicBool::new(false),
        });
        LoadBalancedConnection::checkout(source).await
    }
}

/// The pool, as a handle sees it, with its first checkout steered to `prefer`.
struct Preferring {
    core: Arc<PoolCore>,
    prefer: Vec<HostAddr>,
    steered: AtomicBool,
}

impl Source for Preferring {
    fn balancer(&self) -> Arc<Balancer> {
        Source::balancer(&*self.core)
    }

    fn generation(&self) -> u64 {
        Source::generation(&*self.core)
    }

    fn is_closed(&self) -> bool {
        Source::is_closed(&*self.core)
    }

    fn checkout<'a>(
        &'a self,
        balancer: &'a Arc<Balancer>,
        first: Option<usize>,
        avoid: Option<usize>,
        wanted: &'a SessionState,
    ) -> BoxFuture<'a, Result<Checked, Error>> {
        let mut first = first;
        if !self.steered.swap(true, Ordering::AcqRel) {
            let among: Vec<usize> = (0..balancer.hosts.len())
                .filter(|&i| self.prefer.contains(balancer.addr(i)))
                .collect();
            // The handle's own pick stands when it is one of them: asking the strategy again
            // would move a round-robin on twice per checkout.
            if first.is_none_or(|i| !among.contains(&i)) {
                first = balancer.pick(Some(&among), avoid.as_slice()).or(first);
            }
        }
        self.core.checkout(balancer, first, avoid, wanted)
    }

    fn grace_end(&self, addr: &HostAddr) -> Option<Instant> {
        self.core.grace_end(addr)
    }

    fn host_down(&self, addr: &HostAddr) {
        self.core.host_down(addr)
    }

    fn after_write<'a>(&'a self, conn: &'a mut Conn) -> Option<BoxFuture<'a, ()>> {
        self.core.after_write(conn)
    }

    fn statement_failed(&self, err: &mysql_async::Error) {
        self.core.statement_failed(err)
    }

    fn recheck<'a>(&'a self, conn: &'a mut Conn) -> Option<BoxFuture<'a, Result<(), Error>>> {
        self.core.recheck(conn)
    }
}
