//! Causal reads (`causal_reads=true`) with one replica lagging: how long a read right after a
//! write takes when it has to find the replica that has the write. Prints figures; asserts
//! nothing.
//!
//! A MariaDB replication set of a source and two replicas; one `ReplicationPool` per part
//! with `causal_reads=true` and otherwise the library's defaults (`strategy=random`,
//! `causal_read_timeout=1s`, `health_check_interval=1s`). Each part runs `PAIRS` pairs of a
//! write through `writer()` (an `INSERT`) and a causal read of that row through `reader()`;
//! the read's time is its checkout plus its `SELECT`.
//!
//! 1. Both replicas current: the baseline.
//! 2. Replica 1's SQL thread stopped (it lags more with every write), replica 2 current: a
//!    read that waited on the lagging replica would take the whole second.
//!
//! `cargo bench --bench causal`; env: `PAIRS` (200).

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{env, loadavg};
use hdrhistogram::Histogram;
use mysql_async::prelude::Queryable;
use mysql_lb::{LbOpts, ReplicationPool};
use mysql_lb_sandbox::Sandbox;

/// The replica whose SQL thread is stopped in part 2.
const LAGGING: usize = 1;

fn opts(sb: &Sandbox) -> LbOpts {
    format!("{}?causal_reads=true", sb.replication_url())
        .parse()
        .expect("bench URL")
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// `pairs` write-then-read pairs on a new pool; prints the read latencies and where the
/// reads went.
async fn part(sb: &Sandbox, name: &str, table: &str, pairs: u32) {
    sb.exec(
        0,
        &format!("CREATE TABLE app.{table} (id INT PRIMARY KEY, v INT)"),
    )
    .await
    .expect("table");
    for i in 1..sb.len() {
        if i != LAGGING || name.starts_with("both") {
            sb.wait_caught_up(i, Duration::from_secs(30))
                .await
                .expect("caught up");
        }
    }
    let pool = ReplicationPool::new(opts(sb)).await.expect("pool");
    let mut reads = Histogram::<u64>::new(3).expect("histogram");
    let mut served: BTreeMap<String, u32> = BTreeMap::new();
    let mut stale = 0;
    for n in 0..pairs {
        let mut w = pool.writer().get_conn().await.expect("writer");
        w.query_drop(format!("INSERT INTO app.{table} VALUES ({n}, {n})"))
            .await
            .expect("insert");
        drop(w);
        let t = Instant::now();
        let mut r = pool.reader().get_conn().await.expect("reader");
        let seen: Option<(u32, u16)> = r
            .query_first(format!("SELECT v, @@port FROM app.{table} WHERE id = {n}"))
            .await
            .expect("select");
        reads.record(t.elapsed().as_micros() as u64).ok();
        let port = match seen {
            Some((_, port)) => port,
            None => {
                stale += 1;
                r.query_first("SELECT @@port")
                    .await
                    .expect("port")
                    .unwrap_or(0)
            }
        };
        let who = match (0..sb.len()).find(|&i| sb.port(i) == port) {
            Some(0) => "source".to_string(),
            Some(i) if i == LAGGING && !name.starts_with("both") => {
                format!("replica {i} (lagging)")
            }
            Some(i) => format!("replica {i}"),
            None => format!("port {port}"),
        };
        *served.entry(who).or_default() += 1;
    }
    println!(
        "{name}: {pairs} causal reads right after a write: p50 {:.2} ms, p99 {:.2} ms, worst \
         {:.2} ms; served by {served:?}; reads that missed their write: {stale}",
        ms(reads.value_at_quantile(0.5)),
        ms(reads.value_at_quantile(0.99)),
        ms(reads.max()),
    );
    pool.disconnect().await;
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let pairs = env("PAIRS", 200) as u32;
    let t = Instant::now();
    let sb = Sandbox::start_replication(2).await.expect("sandbox");
    println!("== causal reads: route first, then wait ==");
    println!(
        "sandbox: a source and 2 replicas started in {:.1?}; load average at start: {}",
        t.elapsed(),
        loadavg()
    );
    println!(
        "options: causal_reads=true, otherwise defaults (strategy=random, \
         causal_read_timeout=1s, health_check_interval=1s)"
    );
    sb.exec(0, "CREATE DATABASE IF NOT EXISTS app")
        .await
        .expect("database");
    part(&sb, "both replicas current", "c1", pairs).await;
    sb.stop_replica_sql(LAGGING).await.expect("stop SQL thread");
    part(&sb, "replica 1 lagging", "c2", pairs).await;
    sb.start_replica_sql(LAGGING)
        .await
        .expect("start SQL thread");
    println!("load average at the end: {}", loadavg());
}
