//! Writes to the source, reads from replicas: a [`ReplicationPool`], used the way code ported
//! from Connector/J's `ReplicationConnection` uses it, through one handle switched with
//! [`ReplicationConnection::set_read_only`].
//!
//! ```sh
//! cargo run --example replication -- \
//!     'mysql:replication://user:pass@source:3306,replica1:3306,replica2:3306/?causal_reads=true'
//! MYSQL_LB_URL='mysql:replication://...' cargo run --example replication
//! ```
//!
//! The first host of a `mysql:replication://` URL is the source, the others are replicas
//! (or give each host `type=source|replica`); the pool checks the roles itself by reading
//! `@@global.read_only` and the replication status of every host. `causal_reads=true` in the
//! URL makes a read wait until its replica has the pool's last write.
//!
//! What it shows:
//! - a write on the handle goes to the source;
//! - `set_read_only(true)` sends the next statements to a replica, but only from the next
//!   transaction boundary: a transaction that is open stays on the source until it ends;
//! - `set_read_only(false)` brings the handle back to the source;
//! - `writer()` and `reader()` are plain pools for code that knows which side it needs.

use mysql_async::prelude::Queryable;
use mysql_lb::{LbOpts, ReplicationConnection, ReplicationPool};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(url) = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("MYSQL_LB_URL").ok())
    else {
        eprintln!("usage: replication URL   (or set MYSQL_LB_URL)");
        std::process::exit(2);
    };
    let opts: LbOpts = url.parse()?;
    // Fails when no source answers (unless `allow_source_down_connections=true`).
    let pool = ReplicationPool::new(opts).await?;

    // Through the writer: the schema, on the source, reaches the replicas by replication.
    pool.writer()
        .get_conn()
        .await?
        .query_drop(
            "CREATE DATABASE IF NOT EXISTS lb_example; \
             CREATE TABLE IF NOT EXISTS lb_example.events \
                 (id BIGINT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(64) NOT NULL) ENGINE=InnoDB",
        )
        .await?;

    let mut conn = pool.get_conn();
    conn.query_drop("INSERT INTO lb_example.events (what) VALUES ('written on the source')")
        .await?;
    println!("write       on {}", where_am_i(&mut conn).await?);

    // A transaction that has begun stays where it is: the switch waits for its end.
    conn.query_drop("BEGIN").await?;
    conn.query_drop("INSERT INTO lb_example.events (what) VALUES ('in a transaction')")
        .await?;
    conn.set_read_only(true);
    println!(
        "in the transaction, after set_read_only(true), on {}",
        where_am_i(&mut conn).await?
    );
    conn.query_drop("COMMIT").await?;

    // Now the reads go to a replica.
    let events: Option<u64> = conn
        .query_first("SELECT COUNT(*) FROM lb_example.events")
        .await?;
    println!(
        "read-only   on {} ({} events there; without causal_reads=true it may lack the latest)",
        where_am_i(&mut conn).await?,
        events.unwrap_or(0)
    );

    // And back to the source for writes.
    conn.set_read_only(false);
    conn.query_drop("INSERT INTO lb_example.events (what) VALUES ('back on the source')")
        .await?;
    println!("read-write  on {}", where_am_i(&mut conn).await?);
    drop(conn); // its pooled connections go back to their pools

    for host in pool.stats() {
        println!("{} ({:?}): {:?}", host.addr, host.role, host.state);
    }
    pool.disconnect().await;
    Ok(())
}

/// The host that answers the handle's next statement, and whether it is read-only.
async fn where_am_i(conn: &mut ReplicationConnection) -> Result<String, mysql_async::Error> {
    let read_only: Option<u8> = conn.query_first("SELECT @@global.read_only").await?;
    let host = conn
        .current_host()
        .map_or_else(|| "?".to_owned(), ToString::to_string);
    Ok(format!("{host} (read_only={})", read_only.unwrap_or(0)))
}
