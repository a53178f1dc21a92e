//! One host's share of a pool: its idle connections and its limit of open ones.
//!
//! Every open connection to the host, idle or checked out, holds a [`Lease`]: a permit of the
//! host's semaphore (so at most `pool_max` exist) and the connection's end of life (maximum
//! lifetime plus a random jitter, so that connections opened together do not all expire
//! together). Idle connections are a stack: the most recently returned one is handed out
//! first (it is the likeliest to be alive), and the reaper trims from the bottom.
//!
//! An idle connection is validated with a bounded ping before it is handed out once it has
//! been idle for `idle_ping_after`: `wait_timeout` or a `KILL` may have closed it, and a
//! dead connection is dropped, never handed out. A ping failure is not blamed on the host
//! (an idle connection dies for reasons of its own); a failed connect is, by the balancer.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, timeout};

use crate::addr::HostAddr;
use crate::conn::session::SessionState;
use crate::observe::metrics::HostMetrics;
use crate::stats::HostStats;

/// Per-host limits, read from the `mysql_async` pool parameters of the URL (`pool_min`,
/// `pool_max`, `inactive_connection_ttl`, `abs_conn_ttl`, `abs_conn_ttl_jitter`,
/// `reset_connection`), with `mysql_async`'s defaults.
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    /// Idle connections kept however long they idle (`pool_min`).
    pub min_idle: usize,
    /// Open connections at most, idle or busy (`pool_max`).
    pub max_open: usize,
    /// Idle connections beyond `min_idle` are closed after idling this long.
    pub idle_timeout: Duration,
    /// A connection is closed at its next return after this long (`abs_conn_ttl`).
    pub max_lifetime: Option<Duration>,
    /// Up to this much is added at random to each connection's lifetime.
    pub lifetime_jitter: Option<Duration>,
    /// `COM_RESET_CONNECTION` before a returned connection is reused.
    pub reset: bool,
    /// How often the reaper looks at idle connections.
    pub check_interval: Duration,
    /// Idle connections are pinged before use after idling this long.
    pub ping_after: Duration,
    /// Bound on that ping and on the reset.
    pub ping_timeout: Duration,
}

/// An idle connection.
struct Idle {
    conn: Conn,
    lease: Lease,
    since: Instant,
    applied: SessionState,
}

/// The right of one connection to exist; see the module docs.
pub(crate) struct Lease {
    host: Arc<HostPool>,
    permit: Option<OwnedSemaphorePermit>,
    end_of_life: Option<Instant>,
}

impl Lease {
    fn expired(&self) -> bool {
        self.end_of_life.is_some_and(|t| Instant::now() >= t)
    }

    /// The pool the connection belongs to.
    pub(crate) fn host(&self) -> &Arc<HostPool> {
        &self.host
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.host.open.fetch_sub(1, Ordering::AcqRel);
        self.host.metrics.pool(-1, 0);
        // Release before waking waiters, or a woken waiter could still find no permit.
        drop(self.permit.take());
        self.host.released.notify_waiters();
    }
}

/// A connection handed out by [`HostPool::checkout`].
pub(crate) struct Checkout {
    pub conn: Conn,
    pub lease: Lease,
    pub applied: SessionState,
}

/// One host's connections.
pub(crate) struct HostPool {
    addr: HostAddr,
    limits: Limits,
    permits: Arc<Semaphore>,
    idle: Mutex<Vec<Idle>>,
    open: AtomicUsize,
    closed: AtomicBool,
    /// Shared by every host of a pool: fires when a connection is released anywhere.
    released: Arc<Notify>,
    metrics: HostMetrics,
}

impl std::fmt::Debug for HostPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostPool")
            .field("addr", &self.addr)
            .field("open", &self.open())
            .field("idle", &self.idle_count())
            .finish()
    }
}

impl HostPool {
    pub(crate) fn new(addr: HostAddr, limits: Limits, released: Arc<Notify>) -> Arc<HostPool> {
        let metrics = HostStats::of(&addr).metrics().clone();
        Arc::new(HostPool {
            permits: Arc::new(Semaphore::new(limits.max_open.max(1))),
            addr,
            limits,
            idle: Mutex::new(Vec::new()),
            open: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            released,
            metrics,
        })
    }

    /// Connections open to the host, idle or busy.
    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Idle connections.
    pub(crate) fn idle_count(&self) -> usize {
        self.lock().len()
    }

    /// Whether a checkout could succeed without waiting.
    pub(crate) fn has_room(&self) -> bool {
        !self.is_closed() && (self.permits.available_permits() > 0 || self.idle_count() > 0)
    }

    /// This host's metric handles.
    pub(crate) fn metrics(&self) -> &HostMetrics {
        &self.metrics
    }

    /// Whether the host was removed or the pool closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Stops handing out connections and closes the idle ones; busy ones close when they
    /// come back.
    pub(crate) fn close(&self) -> Vec<Conn> {
        self.closed.store(true, Ordering::Release);
        self.drain()
    }

    /// Takes every idle connection out (after a host failure they are likely dead too).
    pub(crate) fn drain(&self) -> Vec<Conn> {
        let idle = std::mem::take(&mut *self.lock());
        self.metrics.pool(0, -(idle.len() as isize));
        idle.into_iter().map(|i| i.conn).collect()
    }

    /// A validated idle connection, or a new one (not bounded here: the caller bounds the
    /// whole attempt by `connect_timeout`). `None`: no room (`pool_max` open, or the host
    /// removed).
    pub(crate) async fn checkout(
        self: &Arc<Self>,
        dial: impl Future<Output = mysql_async::Result<Conn>>,
    ) -> mysql_async::Result<Option<Checkout>> {
        if self.is_closed() {
            return Ok(None);
        }
        while let Some(idle) = self.pop_idle() {
            if idle.lease.expired() {
                continue;
            }
            let Idle {
                mut conn,
                lease,
                since,
                applied,
            } = idle;
            if since.elapsed() >= self.limits.ping_after
                && !matches!(
                    timeout(self.limits.ping_timeout, conn.ping()).await,
                    Ok(Ok(()))
                )
            {
                tracing::debug!(host = %self.addr, "idle pooled connection failed its ping");
                continue;
            }
            return Ok(Some(Checkout {
                conn,
                lease,
                applied,
            }));
        }
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            return Ok(None);
        };
        self.open.fetch_add(1, Ordering::AcqRel);
        self.metrics.pool(1, 0);
        let lease = Lease {
            host: self.clone(),
            permit: Some(permit),
            end_of_life: self.end_of_life(),
        };
        let conn = dial.await?;
        Ok(Some(Checkout {
            conn,
            lease,
            applied: SessionState::default(),
        }))
    }

    /// Takes back a connection a handle is done with. `dirty`: it may hold session state
    /// (a transaction, variables, temporary tables) that the next user must not see.
    pub(crate) fn give_back(
        self: &Arc<Self>,
        mut conn: Conn,
        lease: Lease,
        applied: SessionState,
        dirty: bool,
    ) {
        if self.is_closed() || lease.expired() || conn.is_disconnected() {
            return;
        }
        if !dirty {
            self.push_idle(conn, lease, applied);
            return;
        }
        if !self.limits.reset {
            return; // without a reset it cannot be handed to anyone else
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return; // no runtime: the connection is dropped (and closed by the server)
        };
        let bound = self.limits.ping_timeout;
        let host = self.clone();
        rt.spawn(async move {
            if let Ok(Ok(true)) = timeout(bound, conn.reset()).await {
                host.push_idle(conn, lease, SessionState::default());
            }
        });
    }

    /// Closes idle connections past their lifetime, and those idle longer than
    /// `idle_timeout` beyond the `min_idle` most recently used.
    pub(crate) fn reap(&self) -> Vec<Conn> {
        let mut idle = self.lock();
        let keep_from = idle.len().saturating_sub(self.limits.min_idle);
        let mut out = Vec::new();
        let mut kept = Vec::with_capacity(idle.len());
        for (pos, i) in std::mem::take(&mut *idle).into_iter().enumerate() {
            let stale = pos < keep_from && i.since.elapsed() >= self.limits.idle_timeout;
            if i.lease.expired() || stale {
                out.push(i.conn);
            } else {
                kept.push(i);
            }
        }
        *idle = kept;
        self.metrics.pool(0, -(out.len() as isize));
        out
    }

    fn push_idle(&self, conn: Conn, lease: Lease, applied: SessionState) {
        if self.is_closed() {
            return;
        }
        self.lock().push(Idle {
            conn,
            lease,
            since: Instant::now(),
            applied,
        });
        self.metrics.pool(0, 1);
        self.released.notify_waiters();
    }

    /// The most recently returned idle connection, if it needs nothing before use: not past
    /// its lifetime, used within `ping_after` (no ping due), and in session state `wanted`.
    /// Otherwise `None`, and the connection stays for [`Self::checkout`], which can ping it.
    pub(crate) fn take_ready(&self, wanted: &SessionState) -> Option<Checkout> {
        if self.is_closed() {
            return None;
        }
        let idle = {
            let mut idle = self.lock();
            let ready = idle.last().is_some_and(|i| {
                !i.lease.expired()
                    && i.since.elapsed() < self.limits.ping_after
                    && i.applied == *wanted
            });
            if !ready {
                return None;
            }
            idle.pop()?
        };
        self.metrics.pool(0, -1);
        Some(Checkout {
            conn: idle.conn,
            lease: idle.lease,
            applied: idle.applied,
        })
    }

    fn pop_idle(&self) -> Option<Idle> {
        let idle = self.lock().pop();
        if idle.is_some() {
            self.metrics.pool(0, -1);
        }
        idle
    }

    fn end_of_life(&self) -> Option<Instant> {
        let ttl = self.limits.max_lifetime?;
        let jitter = self
            .limits
            .lifetime_jitter
            .map(|j| j.mul_f64(crate::random::between(0.0, 1.0)))
            .unwrap_or_default();
        Some(Instant::now() + ttl + jitter)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Closes `conns` in the background, each bounded by `bound`.
pub(crate) fn close_all(conns: Vec<Conn>, bound: Duration) {
    if conns.is_empty() {
        return;
    }
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(async move {
            for c in conns {
                let _ = timeout(bound, c.disconnect()).await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            min_idle: 1,
            max_open: 2,
            idle_timeout: Duration::from_secs(1),
            max_lifetime: Some(Duration::from_secs(10)),
            lifetime_jitter: Some(Duration::from_secs(5)),
            reset: true,
            check_interval: Duration::from_secs(1),
            ping_after: Duration::from_secs(1),
            ping_timeout: Duration::from_secs(1),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn lifetimes_are_jittered_within_the_bound() {
        let pool = HostPool::new(HostAddr::new("h", 1), limits(), Arc::default());
        let now = Instant::now();
        let ends: Vec<Duration> = (0..200)
            .map(|_| pool.end_of_life().unwrap() - now)
            .collect();
        assert!(ends.iter().all(|d| *d >= Duration::from_secs(10)));
        assert!(ends.iter().all(|d| *d <= Duration::from_secs(15)));
        let distinct: std::collections::HashSet<_> = ends.iter().collect();
        assert!(distinct.len() > 50, "jitter spreads lifetimes");
    }

    #[tokio::test(start_paused = true)]
    async fn a_lease_expires_at_its_end_of_life_and_frees_its_permit() {
        let pool = HostPool::new(HostAddr::new("h", 1), limits(), Arc::default());
        let permit = pool.permits.clone().try_acquire_owned().unwrap();
        pool.open.fetch_add(1, Ordering::AcqRel);
        let lease = Lease {
            host: pool.clone(),
            permit: Some(permit),
            end_of_life: pool.end_of_life(),
        };
        assert!(!lease.expired());
        tokio::time::advance(Duration::from_secs(16)).await;
        assert!(lease.expired());
        assert_eq!(pool.permits.available_permits(), 1);
        drop(lease);
        assert_eq!(pool.permits.available_permits(), 2);
        assert_eq!(pool.open(), 0);
    }
}
