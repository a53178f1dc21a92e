//! Taking a connection from the pool and giving it back: the pool's side of
//! [`crate::conn::Source`] (see the module docs of `pool` for the steps of a checkout).

use std::sync::Arc;

use futures_core::future::BoxFuture;
use mysql_async::Conn;
use tokio::time::Instant;

use super::host::Lease;
use super::{HostPool, PoolCore};
use crate::addr::HostAddr;
use crate::balancer::Balancer;
use crate::conn::{Checked, Lease as ConnLease, SessionState, Source};
use crate::error::Error;
use crate::observe::{self, EventKind, metrics};

impl Source for PoolCore {
    fn balancer(&self) -> Arc<Balancer> {
        PoolCore::balancer(self)
    }

    fn generation(&self) -> u64 {
        PoolCore::generation(self)
    }

    fn is_closed(&self) -> bool {
        PoolCore::is_closed(self)
    }

    fn checkout<'a>(
        &'a self,
        balancer: &'a Arc<Balancer>,
        first: Option<usize>,
        avoid: Option<usize>,
        wanted: &'a SessionState,
    ) -> BoxFuture<'a, Result<Checked, Error>> {
        Box::pin(self.checkout_from(balancer, first, avoid, wanted))
    }

    fn grace_end(&self, addr: &HostAddr) -> Option<Instant> {
        self.removed.get(addr).map(|e| *e)
    }

    fn host_down(&self, addr: &HostAddr) {
        if let Some(hp) = self.hosts.get(addr) {
            drop(hp.drain());
        }
    }

    fn after_write<'a>(&'a self, conn: &'a mut Conn) -> Option<BoxFuture<'a, ()>> {
        self.hooks.get()?.after_write(conn)
    }

    fn statement_failed(&self, err: &mysql_async::Error) {
        if let Some(h) = self.hooks.get() {
            h.statement_failed(err);
        }
    }

    fn recheck<'a>(&'a self, conn: &'a mut Conn) -> Option<BoxFuture<'a, Result<(), Error>>> {
        self.hooks.get()?.recheck(conn)
    }
}

impl PoolCore {
    /// Waits for a connection to come back only when every usable host is at `pool_max`, and
    /// then no longer than `acquire_timeout`.
    async fn checkout_from(
        &self,
        balancer: &Arc<Balancer>,
        mut first: Option<usize>,
        avoid: Option<usize>,
        wanted: &SessionState,
    ) -> Result<Checked, Error> {
        let started = Instant::now();
        // The common case: the strategy's pick has an idle connection that needs nothing.
        // Taken at once, without the connect machinery (a boxed, bounded, staggered
        // attempt), which only a ping or a new connection needs.
        if let Some(i) = first.filter(|&i| Some(i) != avoid && !self.is_closed())
            && let Some(c) = self.host(balancer.addr(i)).take_ready(wanted)
        {
            c.lease.host().metrics().checkout(started.elapsed());
            return Ok(Checked {
                host: i,
                conn: c.conn,
                applied: c.applied,
                lease: Box::new(c.lease),
            });
        }
        let deadline = started + self.acquire_timeout;
        let n = balancer.hosts.len();
        loop {
            if self.is_closed() {
                return Err(Error::Closed);
            }
            if n == 0 {
                return Err(Error::NoHostForRole {
                    role: "pooled",
                    reason: "the pool has no hosts".into(),
                });
            }
            // Registered before looking, so that a release in between is not missed.
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            let room: Vec<usize> = (0..n)
                .filter(|&i| self.host(balancer.addr(i)).has_room())
                .collect();
            if !room.is_empty() {
                let result = balancer
                    .establish(first.take(), &room, avoid, |i| {
                        let hp = self.host(balancer.addr(i));
                        let dial = balancer.dial(i);
                        async move {
                            let Some(c) = hp.checkout(dial).await? else {
                                return Err(full());
                            };
                            let mut conn = c.conn;
                            wanted.apply(&mut conn, &c.applied).await?;
                            Ok((conn, c.lease))
                        }
                    })
                    .await;
                match result {
                    Ok((host, (conn, lease))) => {
                        lease.host().metrics().checkout(started.elapsed());
                        return Ok(Checked {
                            host,
                            conn,
                            applied: wanted.clone(),
                            lease: Box::new(lease),
                        });
                    }
                    // Another checkout took the last room first, or the host was removed
                    // meanwhile: wait like everyone else.
                    Err(e) if is_full(&e) => {}
                    Err(e) => return Err(e),
                }
            }
            let waited = {
                let _waiting = Waiting::start();
                tokio::time::timeout_at(deadline, released).await
            };
            if waited.is_err() {
                let hosts = (0..n)
                    .filter(|&i| !balancer.blacklist.contains(balancer.addr(i)))
                    .count();
                let busy = (0..n)
                    .map(|i| {
                        let hp = self.host(balancer.addr(i));
                        hp.open().saturating_sub(hp.idle_count())
                    })
                    .sum();
                tracing::warn!(after = ?self.acquire_timeout, hosts, busy, "pool exhausted");
                metrics::exhausted();
                observe::emit(|| EventKind::PoolExhausted {
                    waited: self.acquire_timeout,
                    hosts,
                    busy,
                });
                return Err(Error::PoolExhausted {
                    after: self.acquire_timeout,
                    hosts,
                    busy,
                });
            }
        }
    }
}

impl ConnLease for Lease {
    fn give_back(self: Box<Self>, conn: Conn, applied: SessionState, dirty: bool) {
        let host: Arc<HostPool> = self.host().clone();
        host.give_back(conn, *self, applied, dirty);
    }
}

/// Counts a checkout waiting for room (the `mysql_lb_pool_waiting` gauge) while it lives;
/// a drop guard, so that a cancelled checkout is uncounted too.
struct Waiting;

impl Waiting {
    fn start() -> Waiting {
        metrics::waiting(1.0);
        Waiting
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        metrics::waiting(-1.0);
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

fn is_full(e: &Error) -> bool {
    // `establish` hands the marker back as ours; elsewhere it may still be wrapped.
    let ours = match e {
        Error::Mysql(e) => Error::from_mysql(e),
        e => Some(e),
    };
    matches!(ours, Some(Error::PoolExhausted { after, .. }) if after.is_zero())
}
