//! A plain `mysql_async::Conn` from `mysql_lb`, for crates that manage connections themselves:
//! a [bb8](https://docs.rs/bb8) pool whose connections come from [`Balancer::connect`].
//!
//! ```sh
//! cargo run --example plain_pool -- 'mysql://user:pass@db1:3306,db2:3306,db3:3306/'
//! MYSQL_LB_URL='mysql://...' cargo run --example plain_pool
//! ```
//!
//! On throwaway servers: `cargo run -p mysql-lb -- sandbox --servers 3` prints one JSON line
//! whose `url` is such a URL.
//!
//! Pools and ORMs (bb8, deadpool, diesel-async) want a `mysql_async::Conn` and a way to make
//! one. [`Balancer::connect`] is that way: it picks a host by the URL's strategy, skips hosts
//! on the blacklist, bounds each attempt by `connect_timeout`, and on a host that fails
//! blacklists it and tries the next one at once. The pool's manager below is the whole glue:
//! connect through the balancer, check a connection with a ping bounded by the balancer's
//! `ping_timeout`, and call a connection broken once `mysql_async` saw it disconnect.
//!
//! diesel-async is not shown: its latest release (0.9.2) is built on `mysql_async` 0.36 and
//! this crate on 0.37, so the two `Conn` types are different types and
//! `AsyncMysqlConnection::try_from(conn)` does not accept ours. The same manager works for
//! it once both are on one `mysql_async` version; deadpool's `Manager` is written the same
//! way.
//!
//! What a plain connection gives up compared with a [`mysql_lb::LoadBalancedConnection`]
//! (or a [`mysql_lb::LoadBalancedPool`]): once `connect` returns, the connection belongs to
//! the pool and the library no longer sees it.
//! - A statement that fails because its host died is not retried on another host; the
//!   caller gets the driver's error.
//! - A transaction lost with its connection is not reported as
//!   [`mysql_lb::Error::TransactionLost`] (nor an unanswered `COMMIT` as `CommitUnknown`):
//!   the caller must work out from the raw error what happened to the data.
//! - A host that dies under a connection is not blacklisted then; that happens only when a
//!   later connect to it fails (here: at the pool's next new connection).
//! - No `socket_timeout` bounds the statements; only what `mysql_async` itself enforces.
//! - No per-host statistics are recorded, so the response-time strategies
//!   (`bestResponseTime` and the like) have nothing to go on from these connections.
//! - Failover happens only at the next connect, i.e. at a checkout that finds its
//!   connection broken (hence `test_on_check_out` below), never in the middle of a
//!   statement.

use std::sync::Arc;
use std::time::Duration;

use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use mysql_lb::{Balancer, Error, HostAddr, LbOpts};

/// A bb8 manager handing out plain `mysql_async::Conn`s from a [`Balancer`].
pub struct LbManager {
    balancer: Arc<Balancer>,
}

impl LbManager {
    /// A manager over `balancer` (share one balancer, and so one set of per-host state,
    /// among the pools of a group of hosts).
    pub fn new(balancer: Arc<Balancer>) -> LbManager {
        LbManager { balancer }
    }
}

impl bb8::ManageConnection for LbManager {
    type Connection = Conn;
    type Error = Error;

    async fn connect(&self) -> Result<Conn, Error> {
        self.balancer.connect().await
    }

    async fn is_valid(&self, conn: &mut Conn) -> Result<(), Error> {
        let bound = self.balancer.opts().ping_timeout();
        let host = HostAddr::new(conn.opts().ip_or_hostname(), conn.opts().tcp_port());
        let err = match tokio::time::timeout(bound, conn.ping()).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => Error::Mysql(e),
            // A hung host: the pool drops this connection and makes a new one.
            Err(_) => Error::Timeout {
                host: host.clone(),
                step: "ping",
                after: bound,
            },
        };
        // Lets the balancer check the host in the background (and blacklist it if a new
        // connect fails too), as it does for its own handles' connections.
        let err = err.into_mysql();
        self.balancer.report_failure(&host, &err);
        Err(Error::from_mysql_owned(err))
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.is_disconnected()
    }
}

/// A bb8 pool of at most `max_size` connections over `balancer`, each checked with a ping
/// at checkout so that a connection to a host that died is replaced through the balancer.
pub async fn pool(balancer: Arc<Balancer>, max_size: u32) -> Result<bb8::Pool<LbManager>, Error> {
    // No more than connect_timeout per host, for every host, plus slack.
    let hosts = u32::try_from(balancer.opts().hosts().len()).unwrap_or(u32::MAX);
    let wait = balancer.opts().connect_timeout() * hosts + Duration::from_secs(1);
    bb8::Pool::builder()
        .max_size(max_size)
        .test_on_check_out(true)
        .connection_timeout(wait)
        .build(LbManager::new(balancer))
        .await
}

/// Builds a pool from `url` (a multi-host `mysql_lb` URL), runs `statements` statements,
/// each on a connection checked out for it, and returns the port of the server that answered
/// each (`SELECT @@port`), printing them as it goes.
pub async fn run(url: &str, statements: usize) -> Result<Vec<u16>, Box<dyn std::error::Error>> {
    // A bad URL is reported by the part that is wrong; the password is never shown.
    let opts: LbOpts = url.parse()?;
    let pool = pool(Balancer::new(opts), 4).await?;
    let mut ports = Vec::with_capacity(statements);
    for n in 0..statements {
        let mut conn = pool.get().await?;
        let port: Option<u16> = conn.query_first("SELECT @@port").await?;
        let port = port.ok_or("SELECT @@port returned no row")?;
        println!("statement {n}: answered by the server on port {port}");
        ports.push(port);
    }
    Ok(ports)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(url) = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("MYSQL_LB_URL").ok())
    else {
        eprintln!("usage: plain_pool URL   (or set MYSQL_LB_URL)");
        std::process::exit(2);
    };
    run(&url, 10).await?;
    Ok(())
}
