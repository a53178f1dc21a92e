//! A Galera cluster of three real `mariadbd` nodes (galera-4) behind a [`GaleraPool`]: node
//! states steer traffic, one writer every process agrees on, a certification conflict is the
//! transaction's error and not the host's, and nothing is lost or doubled while a node is
//! killed and another isolated.
//!
//! The tests take turns (a lock): three nodes per test already load a 2-core machine, and
//! Galera's failure detector counts missed heartbeats, so two clusters side by side could make
//! each other look dead.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_lb::{
    DataOutcome, Error, EventKind, GaleraPool, HostState, LbOpts, LoadBalancedConnection,
};
use mysql_lb_sandbox::{APP_PASSWORD, APP_USER, Sandbox};
use tokio::sync::{Mutex, MutexGuard};
use tokio::time::Instant;

/// One cluster at a time.
static TURN: Mutex<()> = Mutex::const_new(());

/// A bound for waits on the cluster (a view change takes the failure detector's time).
const BOUND: Duration = Duration::from_secs(30);

async fn cluster() -> (MutexGuard<'static, ()>, Arc<Sandbox>) {
    let turn = TURN.lock().await;
    let sb = Sandbox::start_galera(3)
        .await
        .expect("a 3-node Galera cluster");
    sb.exec(
        0,
        "CREATE DATABASE IF NOT EXISTS app; \
         CREATE TABLE app.t (id INT PRIMARY KEY, v INT NOT NULL); \
         INSERT INTO app.t VALUES (1, 0), (2, 0)",
    )
    .await
    .expect("setup");
    (turn, Arc::new(sb))
}

fn galera_opts(sb: &Sandbox, options: &str) -> LbOpts {
    format!("{}?{options}", sb.galera_url())
        .parse()
        .expect("test URL parses")
}

/// A plain handle on node `i` alone.
async fn on_node(sb: &Sandbox, i: usize) -> LoadBalancedConnection {
    let url = format!(
        "mysql://{APP_USER}:{APP_PASSWORD}@127.0.0.1:{}/?hedge=false",
        sb.port(i)
    );
    LoadBalancedConnection::connect(url.parse().unwrap())
        .await
        .expect("connect")
}

async fn port_of(conn: &mut LoadBalancedConnection) -> mysql_async::Result<u16> {
    // A table, not just `SELECT @@port`: a node without quorum still answers that.
    let row: Option<(u16, u64)> = conn
        .query_first("SELECT @@port, COUNT(*) FROM app.t")
        .await?;
    Ok(row.expect("one row").0)
}

/// The node with the lowest `wsrep_local_index`: the single writer every process picks.
async fn lowest_index(sb: &Sandbox, nodes: &[usize]) -> usize {
    let mut best = None;
    for &i in nodes {
        let s = sb.galera_state(i).await.expect("state");
        let index = s.local_index.unwrap_or(u32::MAX);
        if best.is_none_or(|(_, best)| index < best) {
            best = Some((i, index));
        }
    }
    best.expect("a node").0
}

async fn writer_port(pool: &GaleraPool) -> u16 {
    let mut c = pool.writer().get_conn().await.expect("writer");
    port_of(&mut c).await.expect("write side answers")
}

/// Ports that served `n` reads through the pool's reader side, with their counts.
async fn read_ports(pool: &GaleraPool, n: usize) -> HashMap<u16, usize> {
    let mut seen = HashMap::new();
    for _ in 0..n {
        let mut c = pool.reader().get_conn().await.expect("reader");
        *seen
            .entry(port_of(&mut c).await.expect("read"))
            .or_default() += 1;
    }
    seen
}

/// Waits, bounded, until `f` holds.
async fn until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let give_up = Instant::now() + BOUND;
    while !f().await {
        assert!(Instant::now() < give_up, "not within {BOUND:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn state_of(pool: &GaleraPool, port: u16) -> Option<HostState> {
    pool.stats()
        .into_iter()
        .find(|s| s.addr.port() == port)
        .map(|s| s.state)
}

#[tokio::test]
async fn one_writer_for_every_process_reads_on_synced_nodes_and_a_desynced_node_steps_aside() {
    let (_turn, sb) = cluster().await;
    let opts = galera_opts(&sb, "health_check_interval=200ms&slow_start=0");
    // Two pools stand for two processes: each picks the writer on its own.
    let a = GaleraPool::new(opts.clone()).await.unwrap();
    let b = GaleraPool::new(opts).await.unwrap();
    let writer = lowest_index(&sb, &[0, 1, 2]).await;
    assert_eq!(writer_port(&a).await, sb.port(writer));
    assert_eq!(writer_port(&b).await, sb.port(writer));

    let seen = read_ports(&a, 90).await;
    assert_eq!(seen.len(), 3, "reads over every Synced node: {seen:?}");

    let other = (writer + 1) % 3;
    sb.desync(other, true).await.unwrap();
    until("the desynced node leaves rotation", || async {
        matches!(
            state_of(&a, sb.port(other)),
            Some(HostState::NotSynced { .. })
        )
    })
    .await;
    let seen = read_ports(&a, 60).await;
    assert!(!seen.contains_key(&sb.port(other)), "{seen:?}");
    assert_eq!(writer_port(&a).await, sb.port(writer), "the writer stays");

    sb.desync(other, false).await.unwrap();
    until("the node is back in rotation", || async {
        read_ports(&a, 20).await.contains_key(&sb.port(other))
    })
    .await;
    a.disconnect().await;
    b.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_node_gets_no_statements_and_readers_see_no_error() {
    let (_turn, sb) = cluster().await;
    let pool = GaleraPool::new(galera_opts(
        &sb,
        "health_check_interval=200ms&slow_start=0&galera_writers=all",
    ))
    .await
    .unwrap();
    let mut events = mysql_lb::subscribe();
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let log = Arc::new(std::sync::Mutex::new(Vec::<(Instant, u16)>::new()));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (pool, stop, errors, log) = (pool.clone(), stop.clone(), errors.clone(), log.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..100_000 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let r = async {
                    let mut c = pool.reader().get_conn().await.map_err(|e| e.to_string())?;
                    port_of(&mut c).await.map_err(|e| e.to_string())
                }
                .await;
                match r {
                    Ok(port) => log.lock().unwrap().push((Instant::now(), port)),
                    Err(e) => {
                        eprintln!("reader saw: {e}");
                        errors.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let isolated = 2;
    let port = sb.port(isolated);
    let asked = Instant::now();
    sb.isolate(isolated).await.unwrap();
    let non_primary = Instant::now();
    // Statements sent there, answered or not (a read that meets 1047 is retried elsewhere
    // and its caller sees nothing): they stop within a monitor round or two.
    let sent = |pool: &GaleraPool| {
        pool.stats()
            .into_iter()
            .find(|s| s.addr.port() == port)
            .map_or(0, |s| s.statements + s.errors)
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let settled = sent(&pool);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let later = sent(&pool);
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        tokio::time::timeout(BOUND, t).await.unwrap().unwrap();
    }
    let log = log.lock().unwrap().clone();
    let last_served = log
        .iter()
        .filter(|(_, p)| *p == port)
        .map(|(at, _)| *at)
        .max();
    eprintln!(
        "isolation: non-Primary {:?} after the cut; last read it served {:?} before that; {} \
         reads in all",
        non_primary - asked,
        last_served.map(|l| non_primary.saturating_duration_since(l)),
        log.len()
    );
    assert_eq!(settled, later, "statements still went to the isolated node");
    assert!(
        last_served.is_none_or(|l| l <= non_primary),
        "a node without quorum answered a table read"
    );
    assert_eq!(
        errors.load(Ordering::SeqCst),
        0,
        "no read error reached a caller"
    );
    assert!(
        matches!(state_of(&pool, port), Some(HostState::NotSynced { node_state }) if node_state == "non-Primary"),
        "{:?}",
        pool.stats()
    );
    let mut saw_out = false;
    while let Ok(e) = events.try_recv() {
        saw_out |=
            matches!(&e.kind, EventKind::NodeOutOfRotation { host, .. } if host.port() == port);
    }
    assert!(saw_out, "an event said the node left rotation");

    sb.rejoin(isolated).await.unwrap();
    until("the node is back in rotation", || async {
        read_ports(&pool, 20).await.contains_key(&port)
    })
    .await;
    pool.disconnect().await;
}

#[tokio::test]
async fn a_certification_conflict_is_rolled_back_and_the_node_stays() {
    let (_turn, sb) = cluster().await;
    let mut a = on_node(&sb, 0).await;
    let mut b = on_node(&sb, 1).await;

    // At COMMIT: node 1 commits a change to the same row first.
    a.query_drop("BEGIN").await.unwrap();
    a.query_drop("UPDATE app.t SET v = v + 1 WHERE id = 1")
        .await
        .unwrap();
    b.query_drop("UPDATE app.t SET v = v + 10 WHERE id = 1")
        .await
        .unwrap();
    let err = a.query_drop("COMMIT").await.unwrap_err();
    let ours = Error::from_mysql(&err).expect("our error");
    assert!(
        matches!(ours, Error::TransactionRolledBack { host, .. } if host.port() == sb.port(0)),
        "{ours}"
    );
    assert!(ours.to_string().contains("run it again"), "{ours}");
    assert_eq!(Error::outcome(&err), DataOutcome::NotApplied);
    assert!(!a.in_transaction(), "the server ended it");
    // Not the host's fault: it is not blacklisted, and the same handle goes on there.
    assert!(
        !a.blacklist()
            .contains(&mysql_lb::HostAddr::new("127.0.0.1", sb.port(0)))
    );
    // Read once node 0 has applied all it was sent (a certification failure can come before
    // node 1's change is applied here).
    let v: Option<i64> = a
        .query_first("SET STATEMENT wsrep_sync_wait = 1 FOR SELECT v FROM app.t WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(v, Some(10), "only node 1's change is there");

    // Mid-transaction: node 1's commit aborts node 0's open transaction (brute force); the
    // next statement of it says so, and the statement after that runs in autocommit.
    a.query_drop("BEGIN").await.unwrap();
    a.query_drop("UPDATE app.t SET v = v + 1 WHERE id = 1")
        .await
        .unwrap();
    b.query_drop("UPDATE app.t SET v = v + 100 WHERE id = 1")
        .await
        .unwrap();
    // Node 1's commit returns once certified; node 0 applies it (and aborts `a`) a moment
    // later. A plain read on node 0 sees the row change once that is done.
    until("node 0 applied node 1's change", || async {
        let rows = sb.sql(0, "SELECT v FROM app.t WHERE id = 1").await.unwrap();
        rows.first().and_then(|r| r.get::<i64, _>(0)) == Some(110)
    })
    .await;
    let err = a
        .query_drop("UPDATE app.t SET v = v + 1 WHERE id = 2")
        .await
        .unwrap_err();
    assert!(
        matches!(
            Error::from_mysql(&err),
            Some(Error::TransactionRolledBack { .. })
        ),
        "{err}"
    );
    assert!(!a.in_transaction());
    let rows: Vec<(i64, i64)> = a
        .query("SELECT id, v FROM app.t ORDER BY id")
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![(1, 110), (2, 0)],
        "nothing of the aborted transaction"
    );
    a.disconnect().await;
    b.disconnect().await;
}

#[tokio::test]
async fn when_the_writer_dies_every_process_moves_to_the_same_next_node() {
    let (_turn, sb) = cluster().await;
    let opts = galera_opts(
        &sb,
        "health_check_interval=200ms&slow_start=0&connect_timeout=1s",
    );
    let a = GaleraPool::new(opts.clone()).await.unwrap();
    let b = GaleraPool::new(opts).await.unwrap();
    let writer = lowest_index(&sb, &[0, 1, 2]).await;
    assert_eq!(writer_port(&a).await, sb.port(writer));
    let rest: Vec<usize> = (0..3).filter(|&i| i != writer).collect();
    sb.kill(writer);
    let killed = Instant::now();
    // The first write may meet the dead node; after that writes go on at once, without
    // waiting for the monitor, to the same node in both pools.
    let mut first_ok = None;
    for _ in 0..200 {
        let r = async {
            let mut c = a.writer().get_conn().await?;
            c.query_drop("UPDATE app.t SET v = v + 1 WHERE id = 2")
                .await
                .map_err(Error::from_mysql_owned)?;
            port_of(&mut c).await.map_err(Error::from)
        }
        .await;
        match r {
            Ok(port) => {
                first_ok = Some((killed.elapsed(), port));
                break;
            }
            Err(e) => eprintln!("write after the kill: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (after, port) = first_ok.expect("writes went on");
    eprintln!("first write after the writer's death: {after:?} (view change included)");
    // The survivors' view changes after the failure detector's timeout; the next writer is
    // the lower index of the two, in every process.
    until("both pools agree on the new writer", || async {
        let next = lowest_index(&sb, &rest).await;
        writer_port(&a).await == sb.port(next) && writer_port(&b).await == sb.port(next)
    })
    .await;
    assert!(rest.iter().any(|&i| sb.port(i) == port));
    a.disconnect().await;
    b.disconnect().await;
}

/// What a caller was told about one attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Told {
    Ok,
    NotApplied,
    Unknown,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counted_writes_with_a_node_killed_and_another_isolated() {
    let (_turn, sb) = cluster().await;
    sb.exec(
        0,
        "CREATE TABLE app.ledger (id BIGINT AUTO_INCREMENT PRIMARY KEY, \
         k VARCHAR(40) NOT NULL, part TINYINT NOT NULL, KEY (k))",
    )
    .await
    .unwrap();
    let pool = GaleraPool::new(galera_opts(
        &sb,
        "health_check_interval=200ms&connect_timeout=1s&acquire_timeout=2s",
    ))
    .await
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for task in 0..6 {
        let (pool, stop) = (pool.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut told = Vec::new();
            for n in 0..100_000u32 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let k = format!("t{task}-{n}");
                // Even attempts: a two-row transaction; odd: one row in autocommit.
                let two = n % 2 == 0;
                let r = async {
                    let mut c = pool.writer().get_conn().await?;
                    if two {
                        let mut tx = c.start_transaction(mysql_async::TxOpts::default()).await?;
                        for part in 0..2 {
                            tx.exec_drop(
                                "INSERT INTO app.ledger (k, part) VALUES (?, ?)",
                                (&k, part),
                            )
                            .await
                            .map_err(Error::from_mysql_owned)?;
                        }
                        tx.commit().await
                    } else {
                        c.exec_drop("INSERT INTO app.ledger (k, part) VALUES (?, 0)", (&k,))
                            .await
                            .map_err(Error::from_mysql_owned)
                    }
                }
                .await;
                let t = match r {
                    Ok(()) => Told::Ok,
                    Err(e) => {
                        eprintln!("{k}: {e}");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        match Error::outcome(&e.into_mysql()) {
                            DataOutcome::NotApplied => Told::NotApplied,
                            DataOutcome::Unknown => Told::Unknown,
                        }
                    }
                };
                told.push((k, if two { 2u8 } else { 1 }, t));
            }
            told
        }));
    }
    let wait = |ms| tokio::time::sleep(Duration::from_millis(ms));
    wait(1000).await;
    let writer = lowest_index(&sb, &[0, 1, 2]).await;
    sb.kill(writer);
    wait(2000).await;
    sb.restart(writer).await.unwrap();
    sb.wait_synced(writer, BOUND).await.unwrap();
    wait(1000).await;
    // Then the writer of the moment is cut off from the other two, mid-commit for some.
    let isolated = lowest_index(&sb, &[0, 1, 2]).await;
    sb.isolate(isolated).await.unwrap();
    wait(2000).await;
    sb.rejoin(isolated).await.unwrap();
    wait(1000).await;
    stop.store(true, Ordering::SeqCst);
    let mut told = Vec::new();
    for t in tasks {
        told.extend(tokio::time::timeout(BOUND, t).await.unwrap().unwrap());
    }
    pool.disconnect().await;
    for i in 0..3 {
        sb.wait_synced(i, BOUND).await.unwrap();
    }

    // Every node holds the same rows; count them per key.
    let mut per_node = Vec::new();
    for i in 0..3 {
        // Each node once it has applied everything it was sent.
        let rows = sb
            .sql(
                i,
                "SET STATEMENT wsrep_sync_wait = 1 FOR \
                 SELECT k, COUNT(*), COUNT(DISTINCT part) FROM app.ledger GROUP BY k",
            )
            .await
            .unwrap();
        let counts: HashMap<String, (u64, u64)> = rows
            .into_iter()
            .map(|r| {
                let (k, n, parts): (String, u64, u64) = mysql_async::from_row(r);
                (k, (n, parts))
            })
            .collect();
        per_node.push(counts);
    }
    assert!(
        per_node.iter().all(|c| c == &per_node[0]),
        "the nodes differ"
    );
    let present = &per_node[0];
    let mut tally: HashMap<(Told, bool), usize> = HashMap::new();
    let mut wrong = Vec::new();
    for (k, parts, t) in &told {
        let got = present.get(k).copied();
        let whole = got == Some((u64::from(*parts), u64::from(*parts)));
        let ok = match t {
            Told::Ok => whole,
            Told::NotApplied => got.is_none(),
            Told::Unknown => whole || got.is_none(),
        };
        if !ok {
            wrong.push(format!("{k}: told {t:?}, rows {got:?}"));
        }
        *tally.entry((*t, got.is_some())).or_default() += 1;
    }
    let attempted: std::collections::HashSet<&String> = told.iter().map(|(k, _, _)| k).collect();
    let strays: Vec<&String> = present.keys().filter(|k| !attempted.contains(k)).collect();
    eprintln!(
        "counted writes: {} attempts; (told, present) -> count: {tally:?}",
        told.len()
    );
    assert!(
        wrong.is_empty(),
        "answers that do not match the rows: {wrong:?}"
    );
    assert!(strays.is_empty(), "rows no caller wrote: {strays:?}");
    assert!(
        tally.get(&(Told::Ok, true)).copied().unwrap_or(0) > 100,
        "writes went on: {tally:?}"
    );
}

#[tokio::test]
async fn with_discover_hosts_a_url_naming_one_node_reaches_all_and_follows_leaves() {
    let (_turn, sb) = cluster().await;
    let url = format!(
        "mysql:galera://{APP_USER}:{APP_PASSWORD}@127.0.0.1:{}/?discover_hosts=true\
         &health_check_interval=200ms&slow_start=0",
        sb.port(0)
    );
    let pool = GaleraPool::new(url.parse().unwrap()).await.unwrap();
    let all: std::collections::HashSet<u16> = (0..3).map(|i| sb.port(i)).collect();
    until("reads reach every member", || async {
        read_ports(&pool, 30)
            .await
            .keys()
            .copied()
            .collect::<std::collections::HashSet<_>>()
            == all
    })
    .await;
    // A member cut off leaves the others' list: it is dropped, and found again on its return.
    let mut events = mysql_lb::subscribe();
    let port = sb.port(2);
    sb.isolate(2).await.unwrap();
    until("the cut-off member is dropped", || async {
        pool.stats()
            .iter()
            .all(|s| s.addr.port() != port || s.state == HostState::Removed)
    })
    .await;
    sb.rejoin(2).await.unwrap();
    until("the member is back", || async {
        read_ports(&pool, 20).await.contains_key(&port)
    })
    .await;
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        match e.kind {
            EventKind::HostDropped { host } if host.port() == port => seen.push("dropped"),
            EventKind::HostDiscovered { host } if host.port() == port => seen.push("found"),
            _ => {}
        }
    }
    assert_eq!(seen, ["dropped", "found"]);
    pool.disconnect().await;
}
