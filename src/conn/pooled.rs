//! The part of [`LoadBalancedConnection`] that only a pooled handle uses: taking connections
//! from a [`crate::LoadBalancedPool`], giving them back, and following the pool's host list.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use mysql_async::consts::StatusFlags;
use tokio::time::Instant;

use super::loss::When;
use super::{LoadBalancedConnection, MyResult, Physical, found};
use crate::error::Error;
use crate::pool::PoolCore;
use crate::replication::causal::{self, Position};

impl LoadBalancedConnection {
    /// Takes a connection from the pool: a host with room, chosen by the strategy (see the
    /// pool's module docs). Waits for a connection to come back only when every usable host
    /// is at `pool_max`, and then no longer than `acquire_timeout`.
    pub(super) async fn select_pooled(
        &mut self,
        pool: &Arc<PoolCore>,
        mut first: Option<usize>,
        avoid: Option<usize>,
    ) -> Result<(), Error> {
        let deadline = Instant::now() + pool.acquire_timeout();
        let balancer = self.balancer.clone();
        let n = balancer.hosts.len();
        loop {
            if pool.is_closed() {
                return Err(Error::Closed);
            }
            if n == 0 {
                return Err(Error::NoHostForRole {
                    role: "pooled",
                    reason: "the pool has no hosts".into(),
                });
            }
            // Registered before looking, so that a release in between is not missed.
            let released = pool.released().notified();
            tokio::pin!(released);
            released.as_mut().enable();
            let room: Vec<usize> = (0..n)
                .filter(|&i| pool.host(balancer.addr(i)).has_room())
                .collect();
            if !room.is_empty() {
                let wanted = self.wanted.clone();
                let result = balancer
                    .establish(first.take(), &room, avoid, |i| {
                        let hp = pool.host(balancer.addr(i));
                        let opts = balancer.opts.mysql_opts(balancer.addr(i));
                        let wanted = wanted.clone();
                        async move {
                            let Some(c) = hp.checkout(opts).await? else {
                                return Err(full());
                            };
                            let mut p = Physical::new(c.conn, c.applied, Some(c.lease));
                            wanted.apply(&mut p.conn, &p.applied).await?;
                            p.applied = wanted;
                            Ok(p)
                        }
                    })
                    .await;
                match result {
                    Ok((i, p)) => {
                        self.conns[i] = Some(p);
                        return self.make_current(i).await;
                    }
                    // Another checkout took the last room first: wait like everyone else.
                    Err(Error::Mysql(e)) if is_full(&e) => {}
                    Err(e) => return Err(e),
                }
            }
            if tokio::time::timeout_at(deadline, released).await.is_err() {
                let hosts = (0..n)
                    .filter(|&i| !self.balancer.blacklist.contains(balancer.addr(i)))
                    .count();
                let busy = (0..n)
                    .map(|i| {
                        let hp = pool.host(balancer.addr(i));
                        hp.open().saturating_sub(hp.idle_count())
                    })
                    .sum();
                return Err(Error::PoolExhausted {
                    after: pool.acquire_timeout(),
                    hosts,
                    busy,
                });
            }
        }
    }

    /// The pool's host list changed: move to it at a safe point, or stay. A removed host's
    /// connection is given up when its grace period has ended, even inside a transaction
    /// (which is then reported lost).
    pub(super) fn follow_pool(&mut self, pool: &Arc<PoolCore>) -> MyResult<()> {
        if self.may_move() && !self.pending_rollback {
            self.release_all();
            self.adopt(pool);
            return Ok(());
        }
        let Some(i) = self.current else {
            self.adopt(pool);
            return Ok(());
        };
        let host = self.balancer.addr(i).clone();
        if pool.grace_end(&host).is_none_or(|end| Instant::now() < end) {
            return Ok(());
        }
        let cause = format!("{host} was removed from the pool and its grace period ended");
        let lost = self.lose_before(i, When::Before, found(&cause));
        self.release_all();
        self.adopt(pool);
        lost
    }

    /// Takes the pool's current balancer (with no connection held).
    fn adopt(&mut self, pool: &Arc<PoolCore>) {
        let balancer = pool.balancer();
        self.conns = (0..balancer.hosts.len()).map(|_| None).collect();
        self.balancer = balancer;
        self.generation = pool.generation();
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
    pub(super) fn release(&mut self, i: usize, p: Physical, current: bool) {
        self.mark_stale(i, &p);
        let Some(lease) = p.lease else {
            return;
        };
        let unfinished = current
            && (self.flags.in_op.load(Ordering::Acquire) != super::op::NONE
                || self.flags.poisoned.load(Ordering::Acquire));
        if unfinished {
            return; // dropping the lease frees the room; the connection is closed
        }
        let in_tx = p.conn.last_ok_packet().is_some_and(|ok| {
            ok.status_flags()
                .contains(StatusFlags::SERVER_STATUS_IN_TRANS)
        });
        let dirty = p.dirty
            || in_tx
            || !p.open_stmts.is_empty()
            || (current && (self.pinned.is_some() || self.pending_rollback || self.tx_open));
        lease
            .host()
            .clone()
            .give_back(p.conn, lease, p.applied, dirty);
    }

    /// After a statement that may have written: with `causal_reads`, remember the write's
    /// position so that later reads through the pool wait for it.
    pub(super) async fn after_write(&mut self, host: usize) {
        let Some(causal) = self.pool.as_ref().and_then(|p| p.causal()) else {
            return;
        };
        if self.in_transaction() {
            return; // the position is known at COMMIT
        }
        let bound = self.balancer.opts.ping_timeout;
        if let Some(p) = self.conns[host].as_mut() {
            causal.capture(&mut p.conn, bound).await;
        }
    }
}

impl LoadBalancedConnection {
    /// Makes the current host (a replica) wait until it has applied `pos`, at most `wait`.
    /// `false` when it did not get there, or cannot say (then a source should serve).
    pub(crate) async fn wait_for_position(&mut self, pos: &Position, wait: Duration) -> bool {
        let bound = wait + self.balancer.opts.ping_timeout;
        let Some(p) = self.current.and_then(|i| self.conns[i].as_mut()) else {
            return false;
        };
        match tokio::time::timeout(bound, causal::wait_for(&mut p.conn, pos, wait)).await {
            Ok(Ok(reached)) => reached,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "causal wait failed");
                false
            }
            Err(_) => {
                // Cut off mid-statement: never reused. A checkout holds no session yet.
                if let Some(i) = self.current {
                    self.discard(i);
                }
                false
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
        if self.pool.is_some() {
            self.release_all();
        }
    }
}

/// The marker for "the host had no room after all" inside `establish`.
fn full() -> mysql_async::Error {
    Error::PoolExhausted {
        after: std::time::Duration::ZERO,
        hosts: 0,
        busy: 0,
    }
    .into_mysql()
}

fn is_full(e: &mysql_async::Error) -> bool {
    matches!(
        Error::from_mysql(e),
        Some(Error::PoolExhausted { after, .. }) if after.is_zero()
    )
}
