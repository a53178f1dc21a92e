//! What a replication pool adds to its two [`LoadBalancedPool`](crate::LoadBalancedPool)s,
//! through the pool's hooks: the writer side remembers each write's position (causal reads)
//! and asks for a role check when a write meets a read-only server; the reader side waits
//! for that position on its replica, or reads from a source instead.

use std::sync::Arc;
use std::time::Duration;

use futures_core::future::BoxFuture;
use mysql_async::Conn;
use tokio::sync::Notify;

use super::causal::{self, Causal};
use crate::conn::LoadBalancedConnection;
use crate::error::{Error, is_read_only_refusal};
use crate::pool::{Hooks, PoolCore};

/// Hooks of either side.
#[derive(Debug)]
pub(super) struct SideHooks {
    /// Told when a write met a read-only server (1290, 1792, 1836): roles may have changed.
    pub kick: Arc<Notify>,
    /// Where write positions are kept, with `causal_reads`.
    pub causal: Option<Arc<Causal>>,
    /// Bound on reading a write's position.
    pub bound: Duration,
    /// The reader side's way to the sources; `None` on the writer side.
    pub read_side: Option<ReadSide>,
}

/// What the reader side needs to fall back to the writer side.
#[derive(Debug)]
pub(super) struct ReadSide {
    pub writer: Arc<PoolCore>,
    pub read_from_source: bool,
}

impl Hooks for SideHooks {
    fn after_write<'a>(&'a self, conn: &'a mut Conn) -> Option<BoxFuture<'a, ()>> {
        if self.read_side.is_some() {
            return None;
        }
        let causal = self.causal.as_ref()?;
        Some(Box::pin(causal.capture(conn, self.bound)))
    }

    fn statement_failed(&self, err: &mysql_async::Error) {
        if is_read_only_refusal(err) {
            self.kick.notify_one();
        }
    }

    fn recheck<'a>(&'a self, conn: &'a mut Conn) -> Option<BoxFuture<'a, Result<(), Error>>> {
        self.read_side.as_ref()?;
        let causal = self.causal.as_ref()?;
        let pos = causal.position()?;
        let wait = causal.wait_bound();
        let bound = wait + self.bound;
        Some(Box::pin(async move {
            let host =
                crate::addr::HostAddr::new(conn.opts().ip_or_hostname(), conn.opts().tcp_port());
            match tokio::time::timeout(bound, causal::wait_for(conn, &pos, wait)).await {
                Ok(Ok(true)) => Ok(()),
                _ => Err(Error::CausalWait {
                    host,
                    gtid: pos.text(),
                    after: wait,
                }),
            }
        }))
    }

    fn get_conn<'a>(
        &'a self,
        pool: &'a Arc<PoolCore>,
    ) -> Option<BoxFuture<'a, Result<LoadBalancedConnection, Error>>> {
        let side = self.read_side.as_ref()?;
        Some(Box::pin(read_checkout(pool, side, self.causal.as_deref())))
    }
}

/// A checkout from the reader side: a replica that has the pool's last write (waiting for
/// it, bounded), else a source when allowed or needed.
async fn read_checkout(
    pool: &Arc<PoolCore>,
    side: &ReadSide,
    causal: Option<&Causal>,
) -> Result<LoadBalancedConnection, Error> {
    let mut conn = match pool.checkout_plain().await {
        Ok(c) => c,
        Err(Error::NoHostForRole { .. } | Error::AllHostsFailed(_)) if side.read_from_source => {
            return side.writer.checkout_plain().await;
        }
        Err(e) => return Err(e),
    };
    let Some(causal) = causal else {
        return Ok(conn);
    };
    let Some(pos) = causal.position() else {
        return Ok(conn);
    };
    let wait = causal.wait_bound();
    let bound = wait + conn.opts().ping_timeout();
    let want = pos.clone();
    let reached = conn
        .with_current(bound, move |c| {
            Box::pin(async move { causal::wait_for(c, &want, wait).await })
        })
        .await;
    match reached {
        Some(Ok(true)) => return Ok(conn),
        Some(Err(e)) => tracing::debug!(error = %e, "causal wait failed"),
        _ => {}
    }
    tracing::debug!(host = ?conn.current_host(), gtid = %pos.text(), "replica behind the pool's last write; reading from a source");
    drop(conn);
    side.writer.checkout_plain().await
}
