//! The part of [`LoadBalancedConnection`] that only a pooled handle uses: taking connections
//! from its [`Source`], giving them back, and following the source's host list.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_core::future::BoxFuture;
use mysql_async::Conn;
use tokio::time::Instant;

use super::loss::When;
use super::source::Source;
use super::{LoadBalancedConnection, MyResult, Physical, found, op};
use crate::error::Error;

impl LoadBalancedConnection {
    /// A handle whose connections come from `source` (a [`crate::LoadBalancedPool`]).
    pub(crate) async fn checkout(source: Arc<dyn Source>) -> Result<LoadBalancedConnection, Error> {
        if source.is_closed() {
            return Err(Error::Closed);
        }
        let mut conn = LoadBalancedConnection::unconnected(source.balancer(), Some(source));
        conn.select().await?;
        conn.checked_out = true;
        Ok(conn)
    }

    /// Takes a connection from the source (see [`Source::checkout`]).
    pub(super) async fn select_pooled(
        &mut self,
        source: &Arc<dyn Source>,
        first: Option<usize>,
        avoid: Option<usize>,
    ) -> Result<(), Error> {
        let mut c = source
            .checkout(&self.balancer, first, avoid, &self.wanted)
            .await?;
        let refused = match self.checked_out {
            true => match source.recheck(&mut c.conn) {
                Some(check) => check.await.err(),
                None => None,
            },
            false => None,
        };
        if let Some(e) = refused {
            // Back to the pool: the connection is fine, only not for this handle now.
            let p = Physical::new(c.conn, c.applied, Some(c.lease));
            self.release(c.host, p, false);
            return Err(e);
        }
        self.conns[c.host] = Some(Physical::new(c.conn, c.applied, Some(c.lease)));
        self.make_current(c.host).await
    }

    /// The source's host list changed: move to it at a safe point, or stay. A removed host's
    /// connection is given up when its grace period has ended, even inside a transaction
    /// (which the lost-connection rule then reports).
    pub(super) fn follow_source(&mut self, source: &Arc<dyn Source>) -> MyResult<()> {
        if self.may_move() && !self.pending_rollback {
            self.release_all();
            self.adopt(source);
            return Ok(());
        }
        let Some(i) = self.current else {
            self.adopt(source);
            return Ok(());
        };
        let host = self.balancer.addr(i).clone();
        if source
            .grace_end(&host)
            .is_none_or(|end| Instant::now() < end)
        {
            return Ok(());
        }
        let cause = format!("{host} was removed from the pool and its grace period ended");
        let lost = self.lose_before(i, When::Before, found(&cause));
        self.release_all();
        self.adopt(source);
        lost
    }

    /// Takes the source's current balancer (with no connection held).
    fn adopt(&mut self, source: &Arc<dyn Source>) {
        let balancer = source.balancer();
        self.conns = (0..balancer.hosts.len()).map(|_| None).collect();
        self.balancer = balancer;
        self.generation = source.generation();
        self.current = None;
    }

    /// Gives every connection back to its pool.
    pub(super) fn release_all(&mut self) {
        let current = self.current.take();
        for j in 0..self.conns.len() {
            if let Some(p) = self.conns[j].take() {
                self.release(j, p, current == Some(j));
            }
        }
    }

    /// Gives one connection back: dropped if its last operation did not finish, reset first
    /// if its session may hold state the next user must not see.
    pub(super) fn release(&mut self, i: usize, p: Box<Physical>, current: bool) {
        self.mark_stale(i, &p);
        let Some(lease) = p.lease else {
            return;
        };
        let unfinished = current
            && (self.flags.in_op.load(Ordering::Acquire) != op::NONE
                || self.flags.poisoned.load(Ordering::Acquire));
        if unfinished {
            return; // dropping the lease frees the room; the connection is closed
        }
        let in_tx = p.conn.last_ok_packet().is_some_and(|ok| {
            ok.status_flags()
                .contains(mysql_async::consts::StatusFlags::SERVER_STATUS_IN_TRANS)
        });
        let dirty = p.dirty
            || in_tx
            || !p.open_stmts.is_empty()
            || (current && (self.pinned.is_some() || self.pending_rollback || self.tx_open));
        lease.give_back(p.conn, p.applied, dirty);
    }

    /// After a statement that may have written: the source may want to know (causal reads).
    pub(super) async fn after_write(&mut self, host: usize) {
        if self.in_transaction() {
            return; // known at COMMIT
        }
        let (Some(source), Some(p)) = (self.source.as_ref(), self.conns[host].as_mut()) else {
            return;
        };
        if let Some(fut) = source.after_write(&mut p.conn) {
            fut.await;
        }
    }

    /// Runs `op` on the current connection, bounded by `bound`; a connection cut off
    /// mid-way is discarded, never reused. Only for a handle just checked out (it holds no
    /// session to lose). `None`: no connection, or the bound passed.
    pub(crate) async fn with_current<T>(
        &mut self,
        bound: Duration,
        op: impl for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, MyResult<T>>,
    ) -> Option<MyResult<T>> {
        let i = self.current?;
        let p = self.conns[i].as_mut()?;
        match tokio::time::timeout(bound, op(&mut p.conn)).await {
            Ok(r) => Some(r),
            Err(_) => {
                self.discard(i);
                None
            }
        }
    }

    /// Whether statements prepared through the handle are still open on its connection.
    pub(crate) fn has_open_statements(&self) -> bool {
        self.current_physical_ref()
            .is_some_and(|p| !p.open_stmts.is_empty())
    }
}

impl Drop for LoadBalancedConnection {
    fn drop(&mut self) {
        if self.source.is_some() {
            self.release_all();
        }
    }
}
