//! Where a pooled handle's connections come from and go back to.
//!
//! The connection knows nothing of the pool (imports run one way: pool -> conn). It asks a
//! [`Source`] for a connection, gives it back through its [`Lease`], and tells the source
//! what it sees (a write done, a statement failed, a host confirmed down); the pool
//! implements both traits and passes what it is told on to its hooks (a replication pool's
//! causal reads and role checks). This is mysql_async's own split between `Conn` and its
//! pool, and deadpool's between an object and its manager.

use std::sync::Arc;

use futures_core::future::BoxFuture;
use mysql_async::Conn;
use tokio::time::Instant;

use super::session::SessionState;
use crate::addr::HostAddr;
use crate::balancer::Balancer;
use crate::error::Error;

/// One connection's right to exist in a pool.
pub(crate) trait Lease: Send + Sync {
    /// Takes `conn` back: `applied` is its session state, `dirty` says it may hold state the
    /// next user must not see (it is reset first, or closed).
    fn give_back(self: Box<Self>, conn: Conn, applied: SessionState, dirty: bool);
}

/// A connection handed out by [`Source::checkout`].
pub(crate) struct Checked {
    /// Its host, as an index into the balancer's hosts.
    pub host: usize,
    pub conn: Conn,
    /// Its session state (as the handle wants it).
    pub applied: SessionState,
    pub lease: Box<dyn Lease>,
}

/// A pool, as a pooled handle sees it.
pub(crate) trait Source: Send + Sync {
    /// The current host list and what goes with it.
    fn balancer(&self) -> Arc<Balancer>;

    /// Bumped at every change of the host list; a handle compares it at each statement.
    fn generation(&self) -> u64;

    /// No more checkouts.
    fn is_closed(&self) -> bool;

    /// A connection to one of `balancer`'s hosts with `wanted` applied: the strategy picks
    /// (`first`, if given, is its pick already; `avoid` is tried last), switching past hosts
    /// that fail; waits only when every usable host is full, and only so long.
    fn checkout<'a>(
        &'a self,
        balancer: &'a Arc<Balancer>,
        first: Option<usize>,
        avoid: Option<usize>,
        wanted: &'a SessionState,
    ) -> BoxFuture<'a, Result<Checked, Error>>;

    /// When the grace period of a removed host ends (`None`: not removed).
    fn grace_end(&self, addr: &HostAddr) -> Option<Instant>;

    /// A host was found down: its idle connections are likely dead too.
    fn host_down(&self, addr: &HostAddr);

    /// A statement that may have written succeeded on `conn`, outside a transaction (or it
    /// was a `COMMIT`). `None`: nothing to do, and nothing allocated.
    fn after_write<'a>(&'a self, conn: &'a mut Conn) -> Option<BoxFuture<'a, ()>>;

    /// A statement failed with `err` on a connection from this source.
    fn statement_failed(&self, err: &mysql_async::Error);

    /// A handle that already had a connection takes a new one (after a loss, a rebalance, a
    /// change of hosts): the source holds it to what the handle's first checkout promised (a
    /// causal reader waits for the pool's last write). `Err`: it cannot serve the handle.
    /// `None`: nothing to check.
    fn recheck<'a>(&'a self, conn: &'a mut Conn) -> Option<BoxFuture<'a, Result<(), Error>>>;
}
