//! Extension points of a pool, filled by whoever builds on it (a replication pool), in the
//! manner of deadpool's hooks: the pool calls them at fixed points and knows nothing of what
//! they do, so imports run one way (replication -> pool).

use std::sync::Arc;

use futures_core::future::BoxFuture;
use mysql_async::Conn;

use super::PoolCore;
use crate::conn::LoadBalancedConnection;
use crate::error::Error;

/// What a pool's owner adds to it. Every method has a default that does nothing.
pub(crate) trait Hooks: Send + Sync + std::fmt::Debug {
    /// After a statement that may have written succeeded on `conn` outside a transaction, or
    /// a `COMMIT` (a replication pool remembers the write's position for causal reads).
    /// `None`: nothing to do.
    fn after_write<'a>(&'a self, _conn: &'a mut Conn) -> Option<BoxFuture<'a, ()>> {
        None
    }

    /// After a statement failed (a replication pool checks roles when a write met a
    /// read-only server).
    fn statement_failed(&self, _err: &mysql_async::Error) {}

    /// A handle that already had a connection took `conn` (see `Source::recheck`): a causal
    /// reader waits for the pool's last write. `None`: nothing to check.
    fn recheck<'a>(&'a self, _conn: &'a mut Conn) -> Option<BoxFuture<'a, Result<(), Error>>> {
        None
    }

    /// Takes over `get_conn` (the reader side of a replication pool: causal waits, falling
    /// back to the sources). `None`: the pool's own checkout.
    fn get_conn<'a>(
        &'a self,
        _pool: &'a Arc<PoolCore>,
    ) -> Option<BoxFuture<'a, Result<LoadBalancedConnection, Error>>> {
        None
    }
}
