//! What a replication pool adds to its two [`LoadBalancedPool`](crate::LoadBalancedPool)s,
//! through the pool's hooks: the writer side remembers each write's position (causal reads)
//! and asks for a role check when a write meets a read-only server; the reader side goes to
//! a replica that has that position, waiting only when none has it, or reads from a source
//! instead (the algorithm is in `causal.rs`).

use std::sync::Arc;
use std::time::Duration;

use futures_core::future::BoxFuture;
use mysql_async::Conn;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::causal::{self, Causal, Position};
use crate::addr::HostAddr;
use crate::conn::LoadBalancedConnection;
use crate::error::{Error, is_commit_failed, is_not_ready, is_read_only_refusal};
use crate::pool::{Hooks, PoolCore};

/// Hooks of either side.
#[derive(Debug)]
pub(super) struct SideHooks {
    /// Told when a write met a read-only server (1290, 1792, 1836), or a statement a Galera
    /// node not ready (1047) or a commit one that lost quorum (1180): roles or node states
    /// may have changed.
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

impl ReadSide {
    /// Whether `host` takes writes now: it has every write made through the pool (the
    /// fallback to the sources relies on that too), so a causal read there needs no check.
    fn is_source(&self, host: &HostAddr) -> bool {
        self.writer
            .balancer()
            .opts()
            .hosts()
            .iter()
            .any(|h| &h.addr == host)
    }
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
        if is_read_only_refusal(err) || is_not_ready(err) || is_commit_failed(err) {
            self.kick.notify_one();
        }
    }

    fn recheck<'a>(&'a self, conn: &'a mut Conn) -> Option<BoxFuture<'a, Result<(), Error>>> {
        let side = self.read_side.as_ref()?;
        let causal = self.causal.as_ref()?;
        let pos = causal.position()?;
        let wait = causal.wait_bound();
        let bound = wait + self.bound;
        Some(Box::pin(async move {
            let host = HostAddr::new(conn.opts().ip_or_hostname(), conn.opts().tcp_port());
            // The handle took this connection itself: no other host to route to, so the one
            // it has waits, unless it is known to have the write already.
            if side.is_source(&host) || causal.known_to_have(&host, &pos) {
                return Ok(());
            }
            match tokio::time::timeout(bound, causal::wait_for(conn, &pos, wait)).await {
                Ok(Ok(true)) => {
                    causal.learned(&host, pos);
                    Ok(())
                }
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

/// A checkout from the reader side: a replica that has the pool's last write (see
/// `causal.rs`: route, check without waiting, wait on the least behind), else a source when
/// allowed or needed.
async fn read_checkout(
    pool: &Arc<PoolCore>,
    side: &ReadSide,
    causal: Option<&Causal>,
) -> Result<LoadBalancedConnection, Error> {
    let started = Instant::now();
    let target = causal.and_then(|c| Some((c, c.position()?)));
    // 1. Route: to a replica known to have the write, when there is one.
    let known: Vec<HostAddr> = match &target {
        Some((causal, pos)) => pool
            .balancer()
            .opts()
            .hosts()
            .iter()
            .map(|h| h.addr.clone())
            .filter(|h| side.is_source(h) || causal.known_to_have(h, pos))
            .collect(),
        None => Vec::new(),
    };
    let conn = match pool.checkout_preferring(&known).await {
        Ok(c) => c,
        Err(Error::NoHostForRole { .. } | Error::AllHostsFailed(_)) if side.read_from_source => {
            return side.writer.checkout_plain().await;
        }
        Err(e) => return Err(e),
    };
    let Some((causal, pos)) = target else {
        return Ok(conn);
    };
    Causally {
        pool,
        side,
        causal,
        pos,
        deadline: started + causal.wait_bound(),
    }
    .serve(conn)
    .await
}

/// One causal checkout after its first connection: steps 2 and 3 of `causal.rs`.
struct Causally<'a> {
    pool: &'a Arc<PoolCore>,
    side: &'a ReadSide,
    causal: &'a Causal,
    pos: Position,
    /// When `causal_read_timeout` from the start of the checkout passes.
    deadline: Instant,
}

impl Causally<'_> {
    fn has(&self, host: &HostAddr) -> bool {
        self.side.is_source(host) || self.causal.known_to_have(host, &self.pos)
    }

    async fn serve(self, first: LoadBalancedConnection) -> Result<LoadBalancedConnection, Error> {
        let readers: Vec<HostAddr> = self
            .pool
            .balancer()
            .opts()
            .hosts()
            .iter()
            .map(|h| h.addr.clone())
            .collect();
        // The connection in hand: checked next, or kept after the checks when it may be the
        // one to wait on (a second one to the same host could find it full).
        let mut held = Some(first);
        let mut tried: Vec<HostAddr> = Vec::new();
        // The least behind of the replicas checked, with its rank (`Causal::wait_rank`).
        let mut best: Option<(HostAddr, (bool, u64))> = None;
        // 2. Check without waiting: each replica at most once, the strategy's pick first;
        //    a checkout that lands on a replica already checked means none is left.
        for _ in 0..=readers.len() {
            let Some(mut conn) = held.take() else { break };
            let Some(host) = conn.current_host().cloned() else {
                break;
            };
            if self.has(&host) {
                return Ok(conn);
            }
            if tried.contains(&host) {
                held = Some(conn);
                break;
            }
            tried.push(host.clone());
            let want = self.pos.clone();
            let bound = conn.opts().ping_timeout();
            let answer = conn
                .with_current(bound, move |c| {
                    Box::pin(async move { causal::check(c, &want).await })
                })
                .await;
            match answer {
                Some(Ok((true, _))) => {
                    self.causal.learned(&host, self.pos.clone());
                    return Ok(conn);
                }
                Some(Ok((false, applied))) => {
                    if applied.is_some() {
                        self.causal.observed(&host, applied);
                    }
                    let rank = self.causal.wait_rank(&host, &self.pos);
                    if best.as_ref().is_none_or(|(_, b)| rank < *b) {
                        best = Some((host, rank));
                    }
                }
                Some(Err(e)) => tracing::debug!(%host, error = %e, "causal check failed"),
                None => tracing::debug!(%host, "causal check timed out"),
            }
            let rest: Vec<HostAddr> = readers
                .iter()
                .filter(|h| !tried.contains(h))
                .cloned()
                .collect();
            if rest.is_empty() || Instant::now() >= self.deadline {
                held = Some(conn);
                break;
            }
            drop(conn); // back to its pool before the next checkout, which could want it
            held = match self.pool.checkout_preferring(&rest).await {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::debug!(error = %e, "no other replica to check");
                    break;
                }
            };
        }
        // 3. None has it: the least behind waits for what is left of the bound.
        if let Some((host, _)) = best {
            let conn = match held {
                Some(c) if c.current_host() == Some(&host) => Some(c),
                other => {
                    drop(other);
                    self.pool
                        .checkout_preferring(std::slice::from_ref(&host))
                        .await
                        .ok()
                }
            };
            if let Some(conn) = conn
                && let Some(conn) = self.wait_on(conn).await
            {
                return Ok(conn);
            }
        }
        tracing::debug!(gtid = %self.pos.text(), "no replica has the pool's last write; reading from a source");
        self.side.writer.checkout_plain().await
    }

    /// `conn` (to the least-behind replica, or another if that one could not serve), once it
    /// has waited until it has the write; `None` when it did not get there in time.
    async fn wait_on(&self, mut conn: LoadBalancedConnection) -> Option<LoadBalancedConnection> {
        let on = conn.current_host()?.clone();
        if self.has(&on) {
            return Some(conn);
        }
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        let want = self.pos.clone();
        let bound = left + conn.opts().ping_timeout();
        let reached = conn
            .with_current(bound, move |c| {
                Box::pin(async move { causal::wait_for(c, &want, left).await })
            })
            .await;
        match reached {
            Some(Ok(true)) => {
                self.causal.learned(&on, self.pos.clone());
                Some(conn)
            }
            Some(Err(e)) => {
                tracing::debug!(host = %on, error = %e, "causal wait failed");
                None
            }
            _ => {
                tracing::debug!(host = %on, gtid = %self.pos.text(), "replica still behind the pool's last write");
                None
            }
        }
    }
}
