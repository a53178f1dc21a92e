//! `Queryable` for [`LoadBalancedConnection`]: every method runs through `begin` / `finish`.
//!
//! The collecting text methods (`query`, `query_first`, `query_drop`) loop: a plain read that
//! met a host failure runs once more on another host. Methods that hand rows to the caller as
//! they arrive, and prepared-statement methods, make one attempt.
//!
//! Each statement method (the text and prepared-statement methods and `query_iter`; not
//! `ping`, `prep` or `close`) runs in one `tracing` span, `mysql_lb.statement`, at INFO, with fields after
//! OpenTelemetry's database conventions: `db.system` (`mysql`), `db.operation.name` (the
//! statement's keyword, from a fixed list, never the text), `server.address` and
//! `server.port` (the host that served it, recorded once known), and `otel.name` /
//! `otel.kind` for tracing-opentelemetry. A retry on another host is an event inside it.
//! With no subscriber interested the span is disabled at its callsite: a relaxed load and a
//! branch, no allocation.

use futures_core::future::BoxFuture;
use mysql_async::prelude::{AsQuery, FromRow, Queryable, StatementLike};
use mysql_async::{BinaryProtocol, Params, QueryResult, Statement, TextProtocol};
use tracing::{Instrument, Span, field};

use super::classify::Class;
use super::hedged::{First, QueryDrop, Rows};
use super::{LoadBalancedConnection, Step};
use crate::error::Error;

type MyResult<T> = mysql_async::Result<T>;

/// The span of one call (see the module docs).
pub(super) fn statement_span(operation: &'static str) -> Span {
    tracing::info_span!(
        "mysql_lb.statement",
        "otel.name" = operation,
        "otel.kind" = "client",
        "db.system" = "mysql",
        "db.operation.name" = operation,
        "server.address" = field::Empty,
        "server.port" = field::Empty,
    )
}

/// Records the serving host on the span, once the statement has one.
pub(super) fn record_host(span: &Span, conn: &LoadBalancedConnection) {
    if !span.is_disabled() {
        let host = conn.current_addr();
        span.record("server.address", host.host());
        span.record("server.port", host.port());
    }
}

/// Runs `fut` inside `span`, or bare when the span is disabled (no subscriber wants it): the
/// `Instrumented` wrapper costs an enter and an exit per poll even then.
pub(super) async fn in_span<F: std::future::Future>(span: &Span, fut: F) -> F::Output {
    if span.is_disabled() {
        fut.await
    } else {
        fut.instrument(span.clone()).await
    }
}

/// Where a statement's time runs out: `after` past its start (`socket_timeout`, or
/// `ping_timeout` for a ping). A deadline, not a duration, so that arming the timer reads no
/// clock: the statement's start was read already.
#[derive(Clone, Copy, Debug)]
pub(super) struct Limit {
    pub at: tokio::time::Instant,
    pub after: std::time::Duration,
}

/// Bounds `fut` by `limit`; on expiry the error names `host` (borrowed: nothing is cloned
/// unless the time runs out).
pub(super) async fn bounded<T>(
    limit: Option<Limit>,
    host: &crate::HostAddr,
    fut: impl std::future::Future<Output = MyResult<T>>,
) -> MyResult<T> {
    match limit {
        None => fut.await,
        Some(Limit { at, after }) => match tokio::time::timeout_at(at, fut).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout {
                host: host.clone(),
                step: "statement",
                after,
            }
            .into_mysql()),
        },
    }
}

/// Runs a text statement: `begin`, the call on the current `Conn`, `finish`; again on
/// `Step::Retry` (at most once: `finish` allows one retry).
macro_rules! run_text {
    ($self:ident, $sql:expr, $retry:expr, |$conn:ident, $q:ident| $call:expr) => {{
        let sql: std::borrow::Cow<'_, [u8]> = $sql;
        let class = $self.classify(&sql);
        run_text!($self, sql, class, $retry, |$conn, $q| $call)
    }};
    ($self:ident, $sql:ident, $class:ident, $retry:expr, |$conn:ident, $q:ident| $call:expr) => {{
        let sql = $sql;
        let class = $class;
        let span = statement_span(class.verb);
        let mut retry = $retry;
        in_span(&span, async {
            loop {
                let ticket = $self.begin(&class).await?;
                record_host(&span, $self);
                let limit = $self.statement_limit(&ticket);
                let (balancer, conn) = $self.parts();
                let result = match conn {
                    Ok($conn) => {
                        let $q: &[u8] = &sql;
                        bounded(limit, balancer.addr(ticket.host), $call).await
                    }
                    Err(e) => Err(e),
                };
                let host = ticket.host;
                let step = $self.finish(ticket, &class, &sql, retry, result);
                match $self.follow_up(step, host, class.kind).await {
                    Step::Done(r) => break r,
                    Step::Retry => retry = false,
                }
            }
        })
        .await
    }};
}

/// Runs a collecting read: hedged when `may_hedge` allows (see `hedged.rs`), else as
/// `run_text!` does, classified once either way.
macro_rules! run_read {
    ($self:ident, $query:ident, $op:expr, |$conn:ident, $q:ident| $call:expr) => {{
        let sql = $query.as_query();
        let class = $self.classify(&sql);
        if $self.may_hedge(&class) {
            let span = statement_span(class.verb);
            return in_span(&span, $self.run_hedged(&sql, &class, &$op, &span)).await;
        }
        run_text!($self, sql, class, true, |$conn, $q| $call)
    }};
}

/// Runs a prepared statement once. The statement is checked after `begin`, which may have
/// replaced a lost connection.
macro_rules! run_exec {
    ($self:ident, $stmt:ident, |$conn:ident| $call:expr) => {{
        let span = statement_span("EXECUTE");
        in_span(&span, async {
            let ticket = $self.begin(&Class::OPAQUE).await?;
            record_host(&span, $self);
            if let Err(e) = $self.check_stale(&$stmt) {
                $self.abandon(ticket);
                return Err(e);
            }
            let limit = $self.statement_limit(&ticket);
            let (balancer, conn) = $self.parts();
            let result = match conn {
                Ok($conn) => bounded(limit, balancer.addr(ticket.host), $call).await,
                Err(e) => Err(e),
            };
            let host = ticket.host;
            let step = $self.finish(ticket, &Class::OPAQUE, b"", false, result);
            match $self.follow_up(step, host, Class::OPAQUE.kind).await {
                Step::Done(r) => r,
                Step::Retry => unreachable!("prepared statements are never retried"),
            }
        })
        .await
    }};
}

impl Queryable for LoadBalancedConnection {
    fn ping(&mut self) -> BoxFuture<'_, MyResult<()>> {
        Box::pin(async move {
            let bound = self.opts().ping_timeout;
            // A ping has no effect: like a read, a host failure moves it to the next host once,
            // and that host answers for the handle.
            let class = Class::READ;
            let mut retry = true;
            loop {
                let ticket = self.begin(&class).await?;
                let limit = Some(Limit {
                    at: ticket.started + bound,
                    after: bound,
                });
                let (balancer, conn) = self.parts();
                let result = match conn {
                    Ok(c) => bounded(limit, balancer.addr(ticket.host), c.ping()).await,
                    Err(e) => Err(e),
                };
                let host = ticket.host;
                let step = self.finish(ticket, &class, b"", retry, result);
                match self.follow_up(step, host, class.kind).await {
                    Step::Done(r) => break r,
                    Step::Retry => retry = false,
                }
            }
        })
    }

    fn query_iter<'a, Q>(
        &'a mut self,
        query: Q,
    ) -> BoxFuture<'a, MyResult<QueryResult<'a, 'static, TextProtocol>>>
    where
        Q: AsQuery + 'a,
    {
        Box::pin(async move {
            let sql = query.as_query().into_owned();
            let class = self.classify(&sql);
            // The span covers the statement until its first rows, not their streaming.
            let span = statement_span(class.verb);
            in_span(&span, async {
                let ticket = self.begin(&class).await?;
                record_host(&span, self);
                // The result borrows the connection, so the handle's bookkeeping happens now
                // and a failure is handled through a detached path.
                self.note_statement(&class, &sql);
                let limit = self.statement_limit(&ticket);
                let detached = self.detach(ticket);
                let conn = self.conn_mut()?;
                match bounded(limit, detached.host(), conn.query_iter(sql)).await {
                    Ok(r) => {
                        detached.succeeded();
                        Ok(r)
                    }
                    // `conn` stays borrowed by the Ok arm; `begin` checks it next time.
                    Err(e) => Err(detached.failed(e, false)),
                }
            })
            .await
        })
    }

    fn prep<'a, Q>(&'a mut self, query: Q) -> BoxFuture<'a, MyResult<Statement>>
    where
        Q: AsQuery + 'a,
    {
        Box::pin(async move {
            let sql = query.as_query().into_owned();
            // Preparing has no effect on data: retry it like a read.
            let class = Class::READ;
            let mut retry = true;
            loop {
                let ticket = self.begin(&class).await?;
                let limit = self.statement_limit(&ticket);
                let (balancer, conn) = self.parts();
                let result = match conn {
                    Ok(c) => bounded(limit, balancer.addr(ticket.host), c.prep(&*sql)).await,
                    Err(e) => Err(e),
                };
                let host = ticket.host;
                let step = self.finish(ticket, &class, &sql, retry, result);
                match self.follow_up(step, host, class.kind).await {
                    Step::Done(Ok(stmt)) => {
                        if let Some(p) = self.current_physical() {
                            p.open_stmts.push(stmt.id());
                        }
                        break Ok(stmt);
                    }
                    Step::Done(Err(e)) => break Err(e),
                    Step::Retry => retry = false,
                }
            }
        })
    }

    fn close(&mut self, stmt: Statement) -> BoxFuture<'_, MyResult<()>> {
        Box::pin(async move {
            let before = self.stale_stmts.len();
            self.stale_stmts
                .retain(|(_, conn, id)| !(*conn == stmt.connection_id() && *id == stmt.id()));
            if self.stale_stmts.len() != before {
                return Ok(());
            }
            let Some(p) = self.current_physical() else {
                return Ok(());
            };
            if p.conn.id() != stmt.connection_id() {
                return Ok(());
            }
            p.open_stmts.retain(|id| *id != stmt.id());
            p.conn.close(stmt).await
        })
    }

    fn exec_iter<'a: 's, 's, Q, P>(
        &'a mut self,
        stmt: Q,
        params: P,
    ) -> BoxFuture<'s, MyResult<QueryResult<'a, 'static, BinaryProtocol>>>
    where
        Q: StatementLike + 's,
        P: Into<Params>,
    {
        let params = params.into();
        Box::pin(async move {
            let ticket = self.begin(&Class::OPAQUE).await?;
            if let Err(e) = self.check_stale(&stmt) {
                self.abandon(ticket);
                return Err(e);
            }
            let limit = self.statement_limit(&ticket);
            let detached = self.detach(ticket);
            let conn = self.conn_mut()?;
            match bounded(limit, detached.host(), conn.exec_iter(stmt, params)).await {
                Ok(r) => {
                    detached.succeeded();
                    Ok(r)
                }
                // `conn` stays borrowed by the Ok arm; `begin` checks it next time.
                Err(e) => Err(detached.failed(e, false)),
            }
        })
    }

    fn exec_batch<'a: 'b, 'b, S, P, I>(
        &'a mut self,
        stmt: S,
        params_iter: I,
    ) -> BoxFuture<'b, MyResult<()>>
    where
        S: StatementLike + 'b,
        I: IntoIterator<Item = P> + Send + 'b,
        I::IntoIter: Send,
        P: Into<Params> + Send,
    {
        Box::pin(async move { run_exec!(self, stmt, |c| c.exec_batch(stmt, params_iter)) })
    }

    fn query<'a, T, Q>(&'a mut self, query: Q) -> BoxFuture<'a, MyResult<Vec<T>>>
    where
        Q: AsQuery + 'a,
        T: FromRow + Send + 'static,
    {
        Box::pin(async move { run_read!(self, query, Rows::new(), |c, q| c.query(q)) })
    }

    fn query_first<'a, T, Q>(&'a mut self, query: Q) -> BoxFuture<'a, MyResult<Option<T>>>
    where
        Q: AsQuery + 'a,
        T: FromRow + Send + 'static,
    {
        Box::pin(async move { run_read!(self, query, First::new(), |c, q| c.query_first(q)) })
    }

    fn query_map<'a, T, F, Q, U>(
        &'a mut self,
        query: Q,
        mut f: F,
    ) -> BoxFuture<'a, MyResult<Vec<U>>>
    where
        Q: AsQuery + 'a,
        T: FromRow + Send + 'static,
        F: FnMut(T) -> U + Send + 'a,
        U: Send,
    {
        Box::pin(
            async move { run_text!(self, query.as_query(), false, |c, q| c.query_map(q, &mut f)) },
        )
    }

    fn query_fold<'a, T, F, Q, U>(
        &'a mut self,
        query: Q,
        init: U,
        f: F,
    ) -> BoxFuture<'a, MyResult<U>>
    where
        Q: AsQuery + 'a,
        T: FromRow + Send + 'static,
        F: FnMut(U, T) -> U + Send + 'a,
        U: Send + 'a,
    {
        Box::pin(async move {
            // Runs once (no retry), so the accumulator and closure move in.
            let mut once = Some((init, f));
            run_text!(self, query.as_query(), false, |c, q| {
                let (init, f) = once.take().expect("query_fold runs once");
                c.query_fold(q, init, f)
            })
        })
    }

    fn query_drop<'a, Q>(&'a mut self, query: Q) -> BoxFuture<'a, MyResult<()>>
    where
        Q: AsQuery + 'a,
    {
        Box::pin(async move { run_read!(self, query, QueryDrop, |c, q| c.query_drop(q)) })
    }

    fn exec<'a: 'b, 'b, T, S, P>(
        &'a mut self,
        stmt: S,
        params: P,
    ) -> BoxFuture<'b, MyResult<Vec<T>>>
    where
        S: StatementLike + 'b,
        P: Into<Params> + Send + 'b,
        T: FromRow + Send + 'static,
    {
        Box::pin(async move { run_exec!(self, stmt, |c| c.exec(stmt, params)) })
    }

    fn exec_first<'a: 'b, 'b, T, S, P>(
        &'a mut self,
        stmt: S,
        params: P,
    ) -> BoxFuture<'b, MyResult<Option<T>>>
    where
        S: StatementLike + 'b,
        P: Into<Params> + Send + 'b,
        T: FromRow + Send + 'static,
    {
        Box::pin(async move { run_exec!(self, stmt, |c| c.exec_first(stmt, params)) })
    }

    fn exec_map<'a: 'b, 'b, T, S, P, U, F>(
        &'a mut self,
        stmt: S,
        params: P,
        f: F,
    ) -> BoxFuture<'b, MyResult<Vec<U>>>
    where
        S: StatementLike + 'b,
        P: Into<Params> + Send + 'b,
        T: FromRow + Send + 'static,
        F: FnMut(T) -> U + Send + 'a,
        U: Send + 'a,
    {
        Box::pin(async move { run_exec!(self, stmt, |c| c.exec_map(stmt, params, f)) })
    }

    fn exec_fold<'a: 'b, 'b, T, S, P, U, F>(
        &'a mut self,
        stmt: S,
        params: P,
        init: U,
        f: F,
    ) -> BoxFuture<'b, MyResult<U>>
    where
        S: StatementLike + 'b,
        P: Into<Params> + Send + 'b,
        T: FromRow + Send + 'static,
        F: FnMut(U, T) -> U + Send + 'a,
        U: Send + 'a,
    {
        Box::pin(async move { run_exec!(self, stmt, |c| c.exec_fold(stmt, params, init, f)) })
    }

    fn exec_drop<'a: 'b, 'b, S, P>(&'a mut self, stmt: S, params: P) -> BoxFuture<'b, MyResult<()>>
    where
        S: StatementLike + 'b,
        P: Into<Params> + Send + 'b,
    {
        Box::pin(async move { run_exec!(self, stmt, |c| c.exec_drop(stmt, params)) })
    }
}
