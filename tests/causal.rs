//! Causal reads route first, then wait: against a real MariaDB GTID replication set, a read
//! after a write goes to a replica that has the write, waits only when none has it, and never
//! misses the write.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{BOUND, make_table};
use mysql_async::prelude::Queryable;
use mysql_lb::{LbOpts, LoadBalancedConnection, ReplicationPool};
use mysql_lb_sandbox::Sandbox;
use tokio::time::Instant;

/// The replica whose SQL thread is stopped (it lags), and the one that keeps up.
const LAGGING: usize = 1;
const CURRENT: usize = 2;

fn repl_opts(sb: &Sandbox, options: &str) -> LbOpts {
    format!("{}?{options}", sb.replication_url())
        .parse()
        .expect("replication URL parses")
}

async fn port_of(conn: &mut LoadBalancedConnection) -> u16 {
    conn.query_first("SELECT @@port")
        .await
        .unwrap()
        .expect("one row")
}

/// How many times `MASTER_GTID_WAIT` ran on server `i` (a status counter), to tell a read
/// that was routed with no query from one that asked.
async fn gtid_waits(sb: &Sandbox, i: usize) -> u64 {
    let rows = sb
        .sql(i, "SHOW GLOBAL STATUS LIKE 'Master_gtid_wait_count'")
        .await
        .unwrap();
    let v: String = rows[0].get(1).expect("a value");
    v.parse().unwrap()
}

/// A write through the pool, then one causal read of it: what it saw, where, how long the
/// read (checkout and query) took.
async fn write_then_read(pool: &ReplicationPool, table: &str, n: u32) -> (u16, Duration) {
    let mut w = pool.writer().get_conn().await.unwrap();
    w.query_drop(format!("INSERT INTO app.{table} VALUES ({n}, 'x')"))
        .await
        .unwrap();
    drop(w);
    let t = Instant::now();
    let mut r = pool.reader().get_conn().await.unwrap();
    let seen: Option<String> = r
        .query_first(format!("SELECT v FROM app.{table} WHERE id = {n}"))
        .await
        .unwrap();
    let took = t.elapsed();
    assert_eq!(
        seen.as_deref(),
        Some("x"),
        "read {n} missed the write before it"
    );
    (port_of(&mut r).await, took)
}

#[tokio::test]
async fn with_one_replica_lagging_causal_reads_go_to_the_other_without_waiting() {
    let sb = Sandbox::start_replication(2).await.unwrap();
    make_table(&sb, "rt").await;
    // A long bound, so that a read that waited on the lagging replica would show.
    let pool = ReplicationPool::new(repl_opts(
        &sb,
        "strategy=roundRobin&causal_reads=true&causal_read_timeout=2s",
    ))
    .await
    .unwrap();
    sb.stop_replica_sql(LAGGING).await.unwrap();
    // The monitor sees the stop (as it would within health_check_interval). Before it has,
    // the first read after the stop may find both replicas one write short and wait on
    // the stopped one: correct, only slow.
    pool.check_now().await;
    let mut served: BTreeMap<u16, u32> = BTreeMap::new();
    let mut worst = Duration::ZERO;
    for n in 0..50 {
        let (port, took) = write_then_read(&pool, "rt", n).await;
        *served.entry(port).or_default() += 1;
        worst = worst.max(took);
    }
    eprintln!(
        "50 causal reads, one replica lagging: worst {worst:?}; served by port {served:?} \
         (source {}, lagging {}, current {})",
        sb.port(0),
        sb.port(LAGGING),
        sb.port(CURRENT)
    );
    assert_eq!(
        served.keys().copied().collect::<Vec<_>>(),
        [sb.port(CURRENT)],
        "every read on the replica that had the write: none on the source, none on the lagging one"
    );
    // Generous for a shared 2-core machine; a read that waited would take the 2 s bound.
    assert!(worst < Duration::from_millis(250), "worst {worst:?}");
    sb.start_replica_sql(LAGGING).await.unwrap();
    pool.disconnect().await;
}

#[tokio::test]
async fn known_positions_route_reads_with_no_query_at_all() {
    let sb = Sandbox::start_replication(2).await.unwrap();
    make_table(&sb, "kp").await;
    // No monitor round of its own during the test: rounds are asked for with check_now.
    let pool = ReplicationPool::new(repl_opts(
        &sb,
        "strategy=roundRobin&causal_reads=true&causal_read_timeout=2s&health_check_interval=1h",
    ))
    .await
    .unwrap();
    sb.stop_replica_sql(LAGGING).await.unwrap();
    pool.check_now().await; // as in the test above

    // Learned on the way: the first read after a write finds the replica that has it; the
    // reads after it go there with no MASTER_GTID_WAIT anywhere.
    let before = [
        gtid_waits(&sb, LAGGING).await,
        gtid_waits(&sb, CURRENT).await,
    ];
    let (port, _) = write_then_read(&pool, "kp", 1).await;
    assert_eq!(port, sb.port(CURRENT));
    let after = [
        gtid_waits(&sb, LAGGING).await,
        gtid_waits(&sb, CURRENT).await,
    ];
    // The counter counts the zero-timeout checks too, so an unchanged count below means
    // that no replica was asked.
    assert!(
        after[0] + after[1] > before[0] + before[1],
        "the first read asked"
    );
    let before = [
        gtid_waits(&sb, LAGGING).await,
        gtid_waits(&sb, CURRENT).await,
    ];
    for _ in 0..20 {
        let mut r = pool.reader().get_conn().await.unwrap();
        assert_eq!(port_of(&mut r).await, sb.port(CURRENT));
    }
    let after = [
        gtid_waits(&sb, LAGGING).await,
        gtid_waits(&sb, CURRENT).await,
    ];
    assert_eq!(before, after, "reads after the first asked no replica");

    // From the monitor: a write, the current replica applies it, a monitor round reads the
    // positions; the reads go to the current replica without asking anyone.
    let mut w = pool.writer().get_conn().await.unwrap();
    w.query_drop("INSERT INTO app.kp VALUES (2, 'y')")
        .await
        .unwrap();
    drop(w);
    sb.wait_caught_up(CURRENT, BOUND).await.unwrap(); // itself a MASTER_GTID_WAIT
    pool.check_now().await;
    let before = [
        gtid_waits(&sb, LAGGING).await,
        gtid_waits(&sb, CURRENT).await,
    ];
    for _ in 0..20 {
        let mut r = pool.reader().get_conn().await.unwrap();
        let seen: Option<String> = r
            .query_first("SELECT v FROM app.kp WHERE id = 2")
            .await
            .unwrap();
        assert_eq!(seen.as_deref(), Some("y"));
        assert_eq!(port_of(&mut r).await, sb.port(CURRENT));
    }
    let after = [
        gtid_waits(&sb, LAGGING).await,
        gtid_waits(&sb, CURRENT).await,
    ];
    assert_eq!(before, after, "routed from the monitor's positions alone");

    // Once the lagging replica catches up and the monitor sees it, it serves again.
    sb.start_replica_sql(LAGGING).await.unwrap();
    sb.wait_caught_up(LAGGING, BOUND).await.unwrap();
    pool.check_now().await;
    let mut served = std::collections::HashSet::new();
    for _ in 0..10 {
        let mut r = pool.reader().get_conn().await.unwrap();
        served.insert(port_of(&mut r).await);
    }
    assert!(served.contains(&sb.port(LAGGING)), "{served:?}");
    pool.disconnect().await;
}

#[tokio::test]
async fn with_every_replica_lagging_a_causal_read_waits_then_goes_to_the_source() {
    let sb = Sandbox::start_replication(2).await.unwrap();
    make_table(&sb, "bl").await;
    let pool = ReplicationPool::new(repl_opts(
        &sb,
        "strategy=roundRobin&causal_reads=true&causal_read_timeout=300ms",
    ))
    .await
    .unwrap();
    sb.stop_replica_sql(LAGGING).await.unwrap();
    sb.stop_replica_sql(CURRENT).await.unwrap();
    for n in 0..3 {
        let (port, took) = write_then_read(&pool, "bl", n).await;
        eprintln!("both replicas lagging: read {n} took {took:?} on port {port}");
        assert_eq!(port, sb.port(0), "the source");
        // It waited (on the least-behind replica) before giving up on the replicas...
        assert!(took >= Duration::from_millis(250), "{took:?}");
        // ...and no longer than the bound, give or take a loaded machine.
        assert!(took < Duration::from_secs(3), "{took:?}");
    }
    sb.start_replica_sql(LAGGING).await.unwrap();
    sb.start_replica_sql(CURRENT).await.unwrap();
    pool.disconnect().await;
}
