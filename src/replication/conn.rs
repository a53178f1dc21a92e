//! [`ReplicationConnection`]: one handle over a [`ReplicationPool`], routed by read-only mode,
//! as Connector/J's `ReplicationConnection` is.
//!
//! `set_read_only(true)` sends the following statements to a replica (through the reader
//! pool, so with causal waits when they are on), `set_read_only(false)` back to a source.
//! The switch happens at a transaction boundary: a transaction that is open stays where it
//! is until it ends, and so do prepared statements that are still open. Each side holds at
//! most one pooled connection; the side not in use gives its connection back to its pool.
//!
//! Session state set by plain SQL (`USE`, `SET autocommit`) applies to the side it ran on.

use futures_core::future::BoxFuture;
use mysql_async::prelude::{AsQuery, FromRow, Queryable, StatementLike};
use mysql_async::{BinaryProtocol, Params, QueryResult, Statement, TextProtocol};

use super::ReplicationPool;
use crate::addr::HostAddr;
use crate::conn::LoadBalancedConnection;
use crate::error::Error;

type MyResult<T> = mysql_async::Result<T>;

/// A handle that writes to a source and, in read-only mode, reads from a replica.
#[derive(Debug)]
pub struct ReplicationConnection {
    pool: ReplicationPool,
    want_read_only: bool,
    read_only: bool,
    conn: Option<LoadBalancedConnection>,
}

impl ReplicationConnection {
    pub(super) fn new(pool: ReplicationPool) -> ReplicationConnection {
        ReplicationConnection {
            pool,
            want_read_only: false,
            read_only: false,
            conn: None,
        }
    }

    /// Routes later statements to a replica (`true`) or a source (`false`), from the next
    /// transaction boundary.
    pub fn set_read_only(&mut self, read_only: bool) {
        self.want_read_only = read_only;
    }

    /// Whether statements go to a replica (after any pending switch).
    pub fn is_read_only(&self) -> bool {
        self.want_read_only
    }

    /// The host the last statement went to.
    pub fn current_host(&self) -> Option<&HostAddr> {
        self.conn.as_ref().and_then(|c| c.current_host())
    }

    /// Whether a transaction is open.
    pub fn in_transaction(&self) -> bool {
        self.conn.as_ref().is_some_and(|c| c.in_transaction())
    }

    /// The connection of the side in use, switching sides first when due and possible.
    async fn route(&mut self) -> MyResult<&mut LoadBalancedConnection> {
        if self.want_read_only != self.read_only
            && self
                .conn
                .as_ref()
                .is_none_or(|c| !c.in_transaction() && !c.has_open_statements())
        {
            self.read_only = self.want_read_only;
            self.conn = None; // back to its pool
        }
        if self.conn.is_none() {
            let side = if self.read_only {
                self.pool.reader()
            } else {
                self.pool.writer()
            };
            self.conn = Some(side.get_conn().await.map_err(Error::into_mysql)?);
        }
        Ok(self.conn.as_mut().expect("set above"))
    }
}

impl Queryable for ReplicationConnection {
    fn ping(&mut self) -> BoxFuture<'_, MyResult<()>> {
        Box::pin(async move { self.route().await?.ping().await })
    }

    fn query_iter<'a, Q>(
        &'a mut self,
        query: Q,
    ) -> BoxFuture<'a, MyResult<QueryResult<'a, 'static, TextProtocol>>>
    where
        Q: AsQuery + 'a,
    {
        Box::pin(async move { self.route().await?.query_iter(query).await })
    }

    fn prep<'a, Q>(&'a mut self, query: Q) -> BoxFuture<'a, MyResult<Statement>>
    where
        Q: AsQuery + 'a,
    {
        Box::pin(async move { self.route().await?.prep(query).await })
    }

    fn close(&mut self, stmt: Statement) -> BoxFuture<'_, MyResult<()>> {
        Box::pin(async move {
            match self.conn.as_mut() {
                Some(c) => c.close(stmt).await,
                None => Ok(()),
            }
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
        Box::pin(async move { self.route().await?.exec_iter(stmt, params).await })
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
        Box::pin(async move { self.route().await?.exec_batch(stmt, params_iter).await })
    }

    // The collecting methods go to the inner handle's own, which retry reads.
    fn query<'a, T, Q>(&'a mut self, query: Q) -> BoxFuture<'a, MyResult<Vec<T>>>
    where
        Q: AsQuery + 'a,
        T: FromRow + Send + 'static,
    {
        Box::pin(async move { self.route().await?.query(query).await })
    }

    fn query_first<'a, T, Q>(&'a mut self, query: Q) -> BoxFuture<'a, MyResult<Option<T>>>
    where
        Q: AsQuery + 'a,
        T: FromRow + Send + 'static,
    {
        Box::pin(async move { self.route().await?.query_first(query).await })
    }

    fn query_drop<'a, Q>(&'a mut self, query: Q) -> BoxFuture<'a, MyResult<()>>
    where
        Q: AsQuery + 'a,
    {
        Box::pin(async move { self.route().await?.query_drop(query).await })
    }
}
