//! Hedged reads on a handle (the rule and its budget are in `crate::hedge`).
//!
//! A retry-safe read runs on the current connection. If it has not answered within the
//! host's hedge delay and the budget has a token, the same statement goes to another host:
//! on a connection the handle already holds there (a handle keeps one per host, as
//! Connector/J's does), else on a new one (a pooled handle checks one out of its pool). The
//! two race; the first answer is the caller's. The loser's connection is dropped with its
//! statement still in flight, never reused (mysql_async would hand the late result to the
//! next statement). When the other host wins, the handle moves there and the slow host is a
//! suspect: new picks avoid it until a probe answers (`Balancer::suspect`). If one attempt
//! fails, the other still may win; if both fail, the first host's error goes through the
//! lost-connection rule as an unhedged read's would. Reads of a pool with `causal_reads` are
//! not hedged: the causal wait is made when the handle is checked out, and a spare
//! connection would skip it.

use std::pin::pin;
use std::time::Duration;

use futures_core::future::BoxFuture;
use mysql_async::Conn;
use mysql_async::prelude::{FromRow, Queryable};
use tokio::time::{timeout, timeout_at};
use tracing::Span;

use super::classify::Class;
use super::queryable::{Limit, bounded, record_host};
use super::{LoadBalancedConnection, MyResult, Physical, Step, dial_with};
use crate::hedge::{DEPOSIT_BATCH, hedge_delay};

/// A collecting read that can run on any connection: the hedge runs it twice.
pub(crate) trait ReadOp<T>: Sync {
    fn run<'c>(&'c self, conn: &'c mut Conn, sql: &'c [u8]) -> BoxFuture<'c, MyResult<T>>;
}

/// `query_drop`.
pub(crate) struct QueryDrop;
/// `query`.
pub(crate) struct Rows<T>(std::marker::PhantomData<fn() -> T>);
/// `query_first`.
pub(crate) struct First<T>(std::marker::PhantomData<fn() -> T>);

impl<T> Rows<T> {
    pub(crate) fn new() -> Self {
        Rows(std::marker::PhantomData)
    }
}
impl<T> First<T> {
    pub(crate) fn new() -> Self {
        First(std::marker::PhantomData)
    }
}

impl ReadOp<()> for QueryDrop {
    fn run<'c>(&'c self, conn: &'c mut Conn, sql: &'c [u8]) -> BoxFuture<'c, MyResult<()>> {
        conn.query_drop(sql)
    }
}
impl<T: FromRow + Send + 'static> ReadOp<Vec<T>> for Rows<T> {
    fn run<'c>(&'c self, conn: &'c mut Conn, sql: &'c [u8]) -> BoxFuture<'c, MyResult<Vec<T>>> {
        conn.query(sql)
    }
}
impl<T: FromRow + Send + 'static> ReadOp<Option<T>> for First<T> {
    fn run<'c>(&'c self, conn: &'c mut Conn, sql: &'c [u8]) -> BoxFuture<'c, MyResult<Option<T>>> {
        conn.query_first(sql)
    }
}

/// How a race ended.
enum Race<T> {
    /// The first attempt's result (the hedge, if any, lost or failed).
    First(MyResult<T>),
    /// The hedge on host `.0` answered first, on connection `.1`.
    Hedge(usize, Box<Physical>, T),
}

impl LoadBalancedConnection {
    /// Whether a statement of `class` may be hedged now (see the module docs).
    pub(crate) fn may_hedge(&self, class: &Class) -> bool {
        self.balancer.opts.hedge
            // A causal read waited for its replica to have the pool's last write; a hedge on
            // another connection from the pool would not have waited.
            && !(self.source.is_some() && self.balancer.opts.causal_reads)
            && class.retryable()
            && !self.tx_open
            && self.pinned.is_none()
            && !self.pending_rollback
            && self.balancer.hosts.len() > 1
    }

    /// Runs a retry-safe collecting read, hedged; the loop and the lost-connection rule are
    /// the unhedged path's (`run_text!`).
    pub(crate) async fn run_hedged<T: Send>(
        &mut self,
        sql: &[u8],
        class: &Class,
        op: &dyn ReadOp<T>,
        span: &Span,
    ) -> MyResult<T> {
        let mut retry = true;
        loop {
            let mut ticket = self.begin(class).await?;
            record_host(span, self);
            let i = ticket.host;
            let limit = self.statement_limit(&ticket);
            let result = match self.conns[i].take() {
                Some(mut first) if self.may_hedge(class) => {
                    self.hedge_eligible += 1;
                    if self.hedge_eligible >= DEPOSIT_BATCH {
                        self.balancer.hedges.deposit(self.hedge_eligible);
                        self.hedge_eligible = 0;
                    }
                    let (min, max) = self.balancer.opts.hedge_delay_bounds();
                    let delay =
                        hedge_delay(&self.balancer.hosts[i].stats, min, max, ticket.started);
                    let race = {
                        // One timer, not two: the hedge delay is far shorter than any
                        // `socket_timeout`, so the statement's own bound is armed only once
                        // the delay has passed (it still counts from the statement's start).
                        let mut primary = pin!(op.run(&mut first.conn, sql));
                        match timeout_at(ticket.started + delay, &mut primary).await {
                            Ok(r) => Race::First(r),
                            Err(_) => {
                                let host = self.balancer.addr(i).clone();
                                let bounded = pin!(bounded(limit, &host, primary));
                                // Boxed: a hedge is rare, and its state is large.
                                Box::pin(self.race(i, bounded, op, sql, delay)).await
                            }
                        }
                    };
                    match race {
                        Race::First(r) => {
                            self.conns[i] = Some(first);
                            r
                        }
                        Race::Hedge(j, second, v) => {
                            // The first attempt is still in flight on `first`: drop it.
                            self.mark_stale(i, &first);
                            drop(first);
                            self.current = None;
                            self.conns[j] = Some(second);
                            let why = format!(
                                "a read on it was not answered within {delay:?}; another host answered first"
                            );
                            self.balancer.suspect(i, why.clone());
                            // A move like a failover's: reported as one, with its reason.
                            self.lost_from = Some((self.balancer.addr(i).clone(), "hedge", why));
                            if let Err(e) = Box::pin(self.make_current(j)).await {
                                self.abandon(ticket);
                                return Err(e.into_mysql());
                            }
                            record_host(span, self);
                            ticket.host = j;
                            Ok(v)
                        }
                    }
                }
                Some(mut first) => {
                    let host = self.balancer.addr(i);
                    let r = bounded(limit, host, op.run(&mut first.conn, sql)).await;
                    self.conns[i] = Some(first);
                    r
                }
                // `begin` made host `i` current with a connection; a handle closed meanwhile
                // has none.
                None => Err(crate::error::Error::Closed.into_mysql()),
            };
            let (host, kind) = (ticket.host, class.kind);
            let step = self.finish(ticket, class, sql, retry, result);
            match self.follow_up(step, host, kind).await {
                Step::Done(r) => break r,
                Step::Retry => retry = false,
            }
        }
    }

    /// The first attempt (on host `i`) is late: if the budget allows and another host has a
    /// connection to give, hedge there and take the first answer.
    async fn race<T: Send>(
        &mut self,
        i: usize,
        mut primary: std::pin::Pin<&mut impl Future<Output = MyResult<T>>>,
        op: &dyn ReadOp<T>,
        sql: &[u8],
        delay: Duration,
    ) -> Race<T> {
        if !self.balancer.hedges.withdraw() {
            return Race::First(primary.await);
        }
        // The first attempt keeps running while a connection elsewhere is found.
        let spare = tokio::select! {
            r = &mut primary => return Race::First(r),
            s = self.spare(i) => s,
        };
        let Some((j, mut second)) = spare else {
            return Race::First(primary.await);
        };
        tracing::info!(
            from = %self.balancer.addr(i),
            to = %self.balancer.addr(j),
            after = ?delay,
            "read hedged to another host"
        );
        self.balancer.hedge_counts[0].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let limit = self.balancer.opts.socket_timeout.map(|after| Limit {
            at: tokio::time::Instant::now() + after,
            after,
        });
        let host = self.balancer.addr(j).clone();
        let hedge_won = {
            let mut hedge = pin!(bounded(limit, &host, op.run(&mut second.conn, sql)));
            tokio::select! {
                r = &mut primary => match r {
                    Ok(v) => Err(Ok(v)),
                    // The first failed: the hedge may still answer.
                    Err(e) => match hedge.await {
                        Ok(v) => Ok(v),
                        Err(_) => Err(Err(e)),
                    },
                },
                r = &mut hedge => match r {
                    Ok(v) => Ok(v),
                    Err(_) => Err(primary.await),
                },
            }
        };
        match hedge_won {
            Ok(v) => {
                tracing::info!(host = %self.balancer.addr(j), "the hedge answered first");
                self.balancer.hedge_counts[1].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Race::Hedge(j, second, v)
            }
            Err(first) => {
                // The hedge lost (or failed): its connection may have a statement in flight.
                self.mark_stale(j, &second);
                drop(second);
                Race::First(first)
            }
        }
    }

    /// A connection to a host other than `i`, with the handle's session applied: one the
    /// handle holds, else a new one (a pooled handle's from its pool). `None` if none can
    /// be had.
    async fn spare(&mut self, i: usize) -> Option<(usize, Box<Physical>)> {
        let wanted = self.wanted.clone();
        let bound = self.balancer.opts.ping_timeout;
        let held = (0..self.conns.len()).find(|&j| {
            j != i
                && !self.balancer.blacklist.contains(self.balancer.addr(j))
                && self.conns[j]
                    .as_ref()
                    .is_some_and(|p| !p.conn.is_disconnected())
        });
        if let Some(j) = held {
            let mut p = self.conns[j].take()?;
            if p.applied != wanted {
                match timeout(bound, wanted.apply(&mut p.conn, &p.applied)).await {
                    Ok(Ok(())) => p.applied = wanted,
                    _ => {
                        self.mark_stale(j, &p);
                        return None;
                    }
                }
            }
            return Some((j, p));
        }
        if let Some(source) = self.source.clone() {
            let c = source
                .checkout(&self.balancer, None, Some(i), &wanted)
                .await
                .ok()?;
            let p = Physical::new(c.conn, c.applied, Some(c.lease));
            if c.host == i {
                // Only the slow host had room: no hedge (the connection goes back).
                self.release(i, p, false);
                return None;
            }
            return Some((c.host, p));
        }
        let others: Vec<usize> = (0..self.conns.len()).filter(|&j| j != i).collect();
        let balancer = self.balancer.clone();
        balancer
            .establish(None, &others, None, |j| {
                dial_with(&balancer, j, wanted.clone())
            })
            .await
            .ok()
    }
}
