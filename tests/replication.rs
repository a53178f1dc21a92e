//! `ReplicationPool` against a real MariaDB GTID replication set: read scaling, role checks,
//! lag, causal reads, and failures of replicas and the source.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::{BOUND, make_table};
use mysql_async::prelude::Queryable;
use mysql_lb::{Error, HostState, LbOpts, LoadBalancedConnection, ReplicationPool};
use mysql_lb_sandbox::Sandbox;
use tokio::time::Instant;

fn repl_opts(sb: &Sandbox, options: &str) -> LbOpts {
    format!("{}?{options}", sb.replication_url())
        .parse()
        .expect("replication URL parses")
}

async fn port_of(conn: &mut LoadBalancedConnection) -> mysql_async::Result<u16> {
    Ok(conn.query_first("SELECT @@port").await?.expect("one row"))
}

#[tokio::test]
async fn reads_spread_over_replicas_and_writes_go_to_the_source() {
    let sb = Sandbox::start_replication(2).await.unwrap();
    make_table(&sb, "spread").await;
    let pool = ReplicationPool::new(repl_opts(&sb, "strategy=roundRobin"))
        .await
        .unwrap();
    let mut readers = HashSet::new();
    for _ in 0..20 {
        let mut c = pool.reader().get_conn().await.unwrap();
        readers.insert(port_of(&mut c).await.unwrap());
    }
    assert_eq!(readers, HashSet::from([sb.port(1), sb.port(2)]));
    for n in 0..10 {
        let mut w = pool.writer().get_conn().await.unwrap();
        assert_eq!(port_of(&mut w).await.unwrap(), sb.port(0));
        w.query_drop(format!("INSERT INTO app.spread VALUES ({n}, 'x')"))
            .await
            .unwrap();
    }
    // The single handle: writes on the source, reads on a replica after set_read_only.
    let mut h = pool.get_conn();
    let p: Option<u16> = h.query_first("SELECT @@port").await.unwrap();
    assert_eq!(p, Some(sb.port(0)));
    h.query_drop("BEGIN").await.unwrap();
    h.set_read_only(true);
    let p: Option<u16> = h.query_first("SELECT @@port").await.unwrap();
    assert_eq!(p, Some(sb.port(0)), "no switch inside a transaction");
    h.query_drop("COMMIT").await.unwrap();
    let p: Option<u16> = h.query_first("SELECT @@port").await.unwrap();
    assert!(p == Some(sb.port(1)) || p == Some(sb.port(2)), "{p:?}");
    let stats = pool.stats();
    assert_eq!(stats.len(), 3);
    assert!(stats.iter().all(|s| s.state == HostState::Up), "{stats:?}");
    pool.disconnect().await;
}

#[tokio::test]
async fn a_killed_replica_costs_readers_nothing_and_a_killed_source_fails_writes_fast() {
    let sb = Arc::new(Sandbox::start_replication(2).await.unwrap());
    let pool = ReplicationPool::new(repl_opts(&sb, "strategy=roundRobin&connect_timeout=1s"))
        .await
        .unwrap();
    let errors = Arc::new(AtomicUsize::new(0));
    let reads = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (pool, errors, reads, stop) =
            (pool.clone(), errors.clone(), reads.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..5000 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let r = async {
                    let mut c = pool.reader().get_conn().await.map_err(|e| e.to_string())?;
                    port_of(&mut c).await.map_err(|e| e.to_string())
                }
                .await;
                match r {
                    Ok(_) => reads.fetch_add(1, Ordering::SeqCst),
                    Err(e) => {
                        eprintln!("reader saw: {e}");
                        errors.fetch_add(1, Ordering::SeqCst)
                    }
                };
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    sb.kill(1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Now the source dies too: writes fail at once with an error naming it; reads go on.
    sb.kill(0);
    let before = reads.load(Ordering::SeqCst);
    let t = Instant::now();
    let err = match pool.writer().get_conn().await {
        Ok(mut w) => w
            .query_drop("DO 1")
            .await
            .map_err(Error::from_mysql_owned)
            .unwrap_err(),
        Err(e) => e,
    };
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert!(err.to_string().contains(&sb.port(0).to_string()), "{err}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        tokio::time::timeout(BOUND, t).await.unwrap().unwrap();
    }
    assert_eq!(
        errors.load(Ordering::SeqCst),
        0,
        "no read error reached a caller"
    );
    assert!(
        reads.load(Ordering::SeqCst) > before,
        "reads went on without the source"
    );
}

#[tokio::test]
async fn writes_follow_a_promoted_replica() {
    let sb = Sandbox::start_replication(2).await.unwrap();
    make_table(&sb, "promo").await;
    let pool = ReplicationPool::new(repl_opts(&sb, "health_check_interval=200ms"))
        .await
        .unwrap();
    let mut w = pool.writer().get_conn().await.unwrap();
    w.query_drop("INSERT INTO app.promo VALUES (1, 'before')")
        .await
        .unwrap();
    drop(w);
    sb.wait_caught_up(1, BOUND).await.unwrap();
    // Fail over by hand: 1 becomes the source, 0 and 2 its replicas.
    sb.exec(0, "SET GLOBAL read_only = 1").await.unwrap();
    sb.promote(1).await.unwrap();
    sb.demote(0, 1).await.unwrap();
    sb.demote(2, 1).await.unwrap();
    let t = Instant::now();
    let mut n = 2;
    let served = loop {
        assert!(t.elapsed() < Duration::from_secs(10), "writes never moved");
        let mut w = pool.writer().get_conn().await.unwrap();
        match w
            .query_drop(format!("INSERT INTO app.promo VALUES ({n}, 'after')"))
            .await
        {
            Ok(()) => break port_of(&mut w).await.unwrap(),
            // The old source refuses (1290) until the roles are re-read.
            Err(mysql_async::Error::Server(e)) if e.code == 1290 => n += 1,
            Err(e) => panic!("unexpected: {e}"),
        }
    };
    assert_eq!(served, sb.port(1));
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    // Reads now come from 0 and 2, which replicate from 1.
    sb.wait_caught_up(0, BOUND).await.unwrap();
    let mut readers = HashSet::new();
    for _ in 0..20 {
        let mut c = pool.reader().get_conn().await.unwrap();
        readers.insert(port_of(&mut c).await.unwrap());
    }
    assert!(!readers.contains(&sb.port(1)), "{readers:?}");
}

#[tokio::test]
async fn a_lagging_replica_is_left_out_until_it_catches_up() {
    let sb = Sandbox::start_replication(2).await.unwrap();
    make_table(&sb, "lag").await;
    let pool = ReplicationPool::new(repl_opts(
        &sb,
        // No ramp: the test is about lag, and 20 reads come right after the return.
        "strategy=roundRobin&max_replication_lag=1s&health_check_interval=100ms&slow_start=0",
    ))
    .await
    .unwrap();
    sb.stop_replica_sql(1).await.unwrap();
    pool.check_now().await;
    assert!(
        pool.stats()
            .iter()
            .any(|s| s.addr.port() == sb.port(1) && matches!(s.state, HostState::Lagging { .. })),
        "{:?}",
        pool.stats()
    );
    for _ in 0..20 {
        let mut c = pool.reader().get_conn().await.unwrap();
        assert_eq!(port_of(&mut c).await.unwrap(), sb.port(2));
    }
    sb.start_replica_sql(1).await.unwrap();
    sb.wait_caught_up(1, BOUND).await.unwrap();
    pool.check_now().await;
    let mut readers = HashSet::new();
    for _ in 0..20 {
        let mut c = pool.reader().get_conn().await.unwrap();
        readers.insert(port_of(&mut c).await.unwrap());
    }
    assert!(readers.contains(&sb.port(1)), "back in after catching up");
}

#[tokio::test]
async fn a_causal_read_sees_the_write_before_it_even_on_a_lagging_replica() {
    let sb = Sandbox::start_replication(2).await.unwrap();
    make_table(&sb, "causal").await;
    let pool = ReplicationPool::new(repl_opts(
        &sb,
        "strategy=roundRobin&causal_reads=true&causal_read_timeout=300ms",
    ))
    .await
    .unwrap();
    // Replica 1 stops applying; the pool does not know (no lag bound set).
    sb.stop_replica_sql(1).await.unwrap();
    let mut served = HashSet::new();
    for n in 0..10 {
        let mut w = pool.writer().get_conn().await.unwrap();
        w.query_drop(format!("INSERT INTO app.causal VALUES ({n}, 'x')"))
            .await
            .unwrap();
        drop(w);
        let mut r = pool.reader().get_conn().await.unwrap();
        let seen: Option<String> = r
            .query_first(format!("SELECT v FROM app.causal WHERE id = {n}"))
            .await
            .unwrap();
        assert_eq!(
            seen.as_deref(),
            Some("x"),
            "read {n} missed the write before it"
        );
        served.insert(port_of(&mut r).await.unwrap());
    }
    assert!(
        !served.contains(&sb.port(1)),
        "the lagging replica never served"
    );
    // Without causal reads the lagging replica does serve stale data: the test can tell.
    let plain = ReplicationPool::new(repl_opts(&sb, "strategy=roundRobin"))
        .await
        .unwrap();
    let mut stale = 0;
    for _ in 0..10 {
        let mut r = plain.reader().get_conn().await.unwrap();
        let n: Option<u64> = r
            .query_first("SELECT COUNT(*) FROM app.causal")
            .await
            .unwrap();
        if n != Some(10) {
            stale += 1;
        }
    }
    assert!(stale > 0);
    sb.start_replica_sql(1).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_causal_reader_that_loses_its_replica_never_reads_from_one_without_the_write() {
    // Server 0 is the source; 1 and 2 replicas. The handle reads from one replica; that one
    // dies; the other has stopped applying. Retried on it without the causal wait, the read
    // would miss the write before it.
    let sb = Sandbox::start_replication(2).await.unwrap();
    make_table(&sb, "cl").await;
    let pool = ReplicationPool::new(repl_opts(
        &sb,
        "causal_reads=true&causal_read_timeout=300ms&hedge=false&blacklist_timeout=30s",
    ))
    .await
    .unwrap();
    let mut w = pool.writer().get_conn().await.unwrap();
    w.query_drop("INSERT INTO app.cl VALUES (1, 'x')")
        .await
        .unwrap();
    let mut r = pool.reader().get_conn().await.unwrap();
    let on = port_of(&mut r).await.unwrap();
    let (serving, other) = if on == sb.port(1) { (1, 2) } else { (2, 1) };
    sb.stop_replica_sql(other).await.unwrap();
    w.query_drop("INSERT INTO app.cl VALUES (2, 'y')")
        .await
        .unwrap();
    drop(w);
    sb.kill(serving);
    let seen: Result<Option<String>, _> = r.query_first("SELECT v FROM app.cl WHERE id = 2").await;
    match seen {
        Ok(v) => assert_eq!(v.as_deref(), Some("y"), "a stale read after the write"),
        Err(e) => assert!(
            matches!(Error::from_mysql(&e), Some(Error::CausalWait { .. })),
            "{e}"
        ),
    }
    sb.start_replica_sql(other).await.unwrap();
    pool.disconnect().await;
}

/// The ports that served `n` reads through the pool's reader side.
async fn read_ports(pool: &ReplicationPool, n: usize) -> HashSet<u16> {
    let mut seen = HashSet::new();
    for _ in 0..n {
        let mut c = pool.reader().get_conn().await.expect("reader");
        seen.insert(port_of(&mut c).await.expect("read"));
    }
    seen
}

#[tokio::test]
async fn with_discover_hosts_a_replica_attached_mid_run_gets_reads_and_one_detached_leaves() {
    let sb = Sandbox::start_replication(3).await.unwrap();
    // Listing replicas takes this privilege on MariaDB (10.5 and later).
    sb.exec(0, "GRANT REPLICATION MASTER ADMIN ON *.* TO 'app'@'%'")
        .await
        .unwrap();
    sb.detach(3).await.unwrap();
    let listed = |sb: Arc<Sandbox>| async move {
        let rows = sb.sql(0, "SHOW SLAVE HOSTS").await.unwrap();
        rows.iter()
            .filter_map(|r| r.get::<u16, _>(2))
            .collect::<HashSet<u16>>()
    };
    let sb = Arc::new(sb);
    // The source lists a replica until its dump thread notices the replica left.
    let give_up = Instant::now() + BOUND;
    while listed(sb.clone()).await.contains(&sb.port(3)) {
        assert!(Instant::now() < give_up, "the source still lists replica 3");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let interval = Duration::from_millis(300);
    let url = format!(
        "mysql:replication://{}:{}@127.0.0.1:{},127.0.0.1:{},127.0.0.1:{}/?discover_hosts=true\
         &health_check_interval={}ms&slow_start=0",
        mysql_lb_sandbox::APP_USER,
        mysql_lb_sandbox::APP_PASSWORD,
        sb.port(0),
        sb.port(1),
        sb.port(2),
        interval.as_millis()
    );
    let pool = ReplicationPool::new(url.parse().unwrap()).await.unwrap();
    let mut events = mysql_lb::subscribe();
    let (p1, p2, p3) = (sb.port(1), sb.port(2), sb.port(3));
    assert_eq!(read_ports(&pool, 40).await, HashSet::from([p1, p2]));

    // Attached: the source lists it, the monitor checks it, reads reach it.
    sb.demote(3, 0).await.unwrap();
    let attached = Instant::now();
    let give_up = attached + BOUND;
    while !read_ports(&pool, 20).await.contains(&p3) {
        assert!(
            Instant::now() < give_up,
            "the attached replica got no reads"
        );
    }
    let took = attached.elapsed();
    eprintln!("an attached replica got reads {took:?} after it replicated ({interval:?} rounds)");
    assert!(
        took < 2 * interval + Duration::from_secs(2),
        "{took:?}: more than two rounds and a margin for a loaded machine"
    );

    // Detached: the source stops listing it (once its dump thread notices), and it leaves.
    sb.detach(3).await.unwrap();
    let give_up = Instant::now() + BOUND;
    while pool
        .stats()
        .iter()
        .any(|s| s.addr.port() == p3 && s.state == HostState::Up)
    {
        assert!(Instant::now() < give_up, "the detached replica stayed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!read_ports(&pool, 40).await.contains(&p3));
    let mut kinds = Vec::new();
    while let Ok(e) = events.try_recv() {
        match e.kind {
            mysql_lb::EventKind::HostDiscovered { host } if host.port() == p3 => {
                kinds.push("discovered")
            }
            mysql_lb::EventKind::HostDropped { host } if host.port() == p3 => kinds.push("dropped"),
            _ => {}
        }
    }
    assert_eq!(kinds, ["discovered", "dropped"]);
    pool.disconnect().await;
}
