//! A small service on a [`LoadBalancedPool`]: tasks check connections out per request, run a
//! read and a transaction, and act on what a failure means for the data.
//!
//! ```sh
//! cargo run --example service -- 'mysql://user:pass@db1:3306,db2:3306,db3:3306/'
//! MYSQL_LB_URL='mysql://...' cargo run --example service
//! ```
//!
//! On throwaway servers: `cargo run -p mysql-lb -- sandbox --servers 3` prints one JSON line
//! whose `url` is such a URL (the servers stop when that command ends), and kill one of its
//! servers while this runs (`kill 1` on its stdin) to see the failover.
//!
//! The hosts are meant to hold the same data (a Galera or group-replication cluster); the
//! example creates its table on every host it can reach, so independent servers do too.
//!
//! Each request places one order: a unique request id, then a transaction of two statements.
//! - A read meeting a dead host is retried on another host by the library; the task never
//!   sees it.
//! - [`Error::TransactionLost`]: the host died inside the transaction; nothing of it was
//!   committed, so it is run again from the start on a fresh connection.
//! - [`Error::CommitUnknown`]: `COMMIT` was sent and no answer came; it may have committed.
//!   The request id is a unique key, so running it again is safe: a duplicate-key error means
//!   the first attempt did commit.
//! - Anything else: [`Error::outcome`] says whether the data may have changed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, TxOpts};
use mysql_lb::{DataOutcome, Error, LbOpts, LoadBalancedPool};

/// Concurrent tasks, like request handlers.
const TASKS: u32 = 8;
/// Requests each task serves.
const REQUESTS: u32 = 200;
/// Attempts per request when a failure says nothing was committed.
const ATTEMPTS: u32 = 3;
/// MySQL's "Duplicate entry" error.
const ER_DUP_ENTRY: u16 = 1062;

/// How one request ended.
enum Done {
    /// Committed on this attempt.
    Committed { attempt: u32 },
    /// An earlier attempt had committed after all (its `COMMIT` answer was lost).
    AlreadyCommitted { attempt: u32 },
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(url) = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("MYSQL_LB_URL").ok())
    else {
        eprintln!("usage: service URL   (or set MYSQL_LB_URL)");
        std::process::exit(2);
    };
    // A bad URL is reported by the part that is wrong; the password is never shown.
    let opts: LbOpts = url.parse()?;
    create_schema(&opts).await;

    let pool = LoadBalancedPool::new(opts);
    let committed = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let pool = pool.clone();
        let committed = committed.clone();
        tasks.spawn(async move {
            for i in 0..REQUESTS {
                let request = format!("{}-{task}-{i}", std::process::id());
                match place_order(&pool, &request, task, i64::from(i % 10 + 1)).await {
                    Ok(Done::Committed { attempt: 1 }) => {}
                    Ok(Done::Committed { attempt }) => {
                        println!("request {request}: committed on attempt {attempt}")
                    }
                    Ok(Done::AlreadyCommitted { attempt }) => println!(
                        "request {request}: attempt {attempt} found it committed by an earlier one"
                    ),
                    Err(e) => {
                        eprintln!("request {request} failed: {e}");
                        continue;
                    }
                }
                committed.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined?;
    }

    println!(
        "{} of {} orders placed",
        committed.load(Ordering::Relaxed),
        TASKS * REQUESTS
    );
    for host in pool.stats() {
        println!(
            "{}: {:?}, {} statements, {} host errors",
            host.addr, host.state, host.statements, host.errors
        );
    }
    pool.disconnect().await;
    Ok(())
}

/// One request: a read, then the order and the task's running total in one transaction.
async fn place_order(
    pool: &LoadBalancedPool,
    request: &str,
    task: u32,
    amount: i64,
) -> Result<Done, mysql_async::Error> {
    let mut last = None;
    for attempt in 1..=ATTEMPTS {
        // Fails only when no host can be used (or every usable one is at `pool_max` for
        // `acquire_timeout`); a dead host is skipped and blacklisted on the way.
        let mut conn = pool.get_conn().await.map_err(Error::into_mysql)?;
        let _open: Option<u64> = conn
            .query_first("SELECT COUNT(*) FROM lb_example.orders")
            .await?;

        let tx = async {
            let mut tx = conn.start_transaction(TxOpts::default()).await?;
            tx.exec_drop(
                "INSERT INTO lb_example.orders (request, task, amount) VALUES (?, ?, ?)",
                (request, task, amount),
            )
            .await
            .map_err(Error::from_mysql_owned)?;
            tx.exec_drop(
                "INSERT INTO lb_example.totals (task, orders, amount) VALUES (?, 1, ?) \
                 ON DUPLICATE KEY UPDATE orders = orders + 1, amount = amount + VALUES(amount)",
                (task, amount),
            )
            .await
            .map_err(Error::from_mysql_owned)?;
            tx.commit().await
        };
        let err = match tx.await {
            Ok(()) => return Ok(Done::Committed { attempt }),
            Err(e) => e.into_mysql(),
        };
        match Error::from_mysql(&err) {
            Some(Error::TransactionLost { host, .. }) => {
                // Nothing of it was committed and nothing was replayed: run it again.
                eprintln!("request {request}: transaction lost on {host}; running it again");
            }
            Some(Error::CommitUnknown { host, .. }) => {
                // It may have committed; the unique request id makes a re-run safe.
                eprintln!("request {request}: commit on {host} unknown; checking by re-running");
            }
            _ if is_duplicate(&err) && attempt > 1 => {
                return Ok(Done::AlreadyCommitted { attempt });
            }
            _ => match Error::outcome(&err) {
                // A deadlock, a lock wait timeout: nothing changed, so try again.
                DataOutcome::NotApplied if is_retryable(&err) => {}
                // Anything else is the caller's to handle: the error says whether the data
                // changed (`NotApplied`) or may have (`Unknown`).
                DataOutcome::NotApplied | DataOutcome::Unknown => return Err(err),
            },
        }
        last = Some(err);
    }
    Err(last.expect("at least one attempt"))
}

fn is_duplicate(err: &mysql_async::Error) -> bool {
    matches!(err, mysql_async::Error::Server(e) if e.code == ER_DUP_ENTRY)
}

/// Deadlock (1213) and lock wait timeout (1205): the server rolled back, run it again.
fn is_retryable(err: &mysql_async::Error) -> bool {
    matches!(err, mysql_async::Error::Server(e) if e.code == 1213 || e.code == 1205)
}

/// Creates the example's tables on every host that answers. A service would have them
/// already; a host that is down now is skipped (the pool will avoid it too).
async fn create_schema(opts: &LbOpts) {
    const SCHEMA: &str = "CREATE DATABASE IF NOT EXISTS lb_example; \
        CREATE TABLE IF NOT EXISTS lb_example.orders (request VARCHAR(64) PRIMARY KEY, \
            task INT NOT NULL, amount BIGINT NOT NULL) ENGINE=InnoDB; \
        CREATE TABLE IF NOT EXISTS lb_example.totals (task INT PRIMARY KEY, \
            orders BIGINT NOT NULL, amount BIGINT NOT NULL) ENGINE=InnoDB";
    for host in opts.hosts() {
        let created = async {
            let mut conn = Conn::new(opts.mysql_opts(&host.addr)).await?;
            conn.query_drop(SCHEMA).await?;
            conn.disconnect().await
        };
        match tokio::time::timeout(opts.connect_timeout() * 2, created).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("{}: schema not created: {e}", host.addr),
            Err(_) => eprintln!("{}: schema not created: timed out", host.addr),
        }
    }
}
