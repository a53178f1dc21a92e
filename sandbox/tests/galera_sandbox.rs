//! The sandbox's Galera cluster against real `mariadbd` nodes: start, rows reaching every
//! node, isolate / rejoin, desync, kill + restart (IST), a full rsync SST, a paused node.
//!
//! The faults share one cluster per test where they leave it whole again, since a cluster
//! takes seconds to start. Timings are printed with `eprintln!` (`--nocapture` shows them).
//! Every wait is bounded.

mod common;

use std::time::{Duration, Instant};

use common::{app_conn, bounded};
use mysql_async::prelude::Queryable;
use mysql_lb_sandbox::{GaleraStart, Sandbox, SandboxOptions};

/// How long a node may take to be Synced again.
const SYNC: Duration = Duration::from_secs(30);

/// A 3-node cluster started `how`, with a table `app.t`, the start time printed.
async fn start_cluster(how: GaleraStart) -> Sandbox {
    let started = Instant::now();
    let sb = bounded(Sandbox::start_galera_by(3, SandboxOptions::default(), how))
        .await
        .expect("start a Galera cluster");
    eprintln!(
        "Sandbox::start_galera_by(3, {how:?}) took {:?}",
        started.elapsed()
    );
    sb.exec(
        0,
        "CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY)",
    )
    .await
    .expect("schema on node 0");
    sb
}

/// Inserts `id` on node `i`.
async fn insert(sb: &Sandbox, i: usize, id: u32) {
    sb.exec(i, &format!("INSERT INTO app.t VALUES ({id})"))
        .await
        .unwrap_or_else(|e| panic!("insert {id} on node {i}: {e}"));
}

/// Whether node `i` has row `id` (Galera applies synchronously on commit, but a node reads
/// without waiting for the apply unless `wsrep_sync_wait` says so).
async fn has_row(sb: &Sandbox, i: usize, id: u32) -> bool {
    let mut conn = app_conn(sb, i).await;
    bounded(conn.query_drop("SET SESSION wsrep_sync_wait = 1"))
        .await
        .unwrap_or_else(|e| panic!("wsrep_sync_wait on node {i}: {e}"));
    let n: Option<i64> =
        bounded(conn.query_first(format!("SELECT COUNT(*) FROM t WHERE id = {id}")))
            .await
            .unwrap_or_else(|e| panic!("read {id} on node {i}: {e}"));
    let _ = bounded(conn.disconnect()).await;
    n == Some(1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_starts_seeded_replicates_and_survives_isolation_and_desync() {
    let sb = start_cluster(GaleraStart::Seeded).await;
    for i in 0..3 {
        let state = sb.galera_state(i).await.unwrap();
        assert!(state.is_synced(), "node {i}: {state:?}");
        assert_eq!(state.cluster_size, 3, "node {i}: {state:?}");
        assert!(!state.desync);
    }
    // Members are discoverable from any node, with their real addresses.
    let rows = sb
        .sql(1, "SHOW GLOBAL STATUS LIKE 'wsrep_incoming_addresses'")
        .await
        .unwrap();
    let addrs: String = rows[0].get(1).unwrap();
    for i in 0..3 {
        assert!(
            addrs.contains(&format!("127.0.0.1:{}", sb.port(i))),
            "{addrs}"
        );
    }
    assert!(!addrs.contains("AUTO"), "{addrs}");
    assert!(
        sb.galera_url()
            .starts_with("mysql:galera://app:app-secret@127.0.0.1:")
    );

    // A row written on node 0 is on nodes 1 and 2.
    insert(&sb, 0, 1).await;
    assert!(has_row(&sb, 1, 1).await);
    assert!(has_row(&sb, 2, 1).await);

    // Isolating node 2: it leaves the Primary component and refuses table access with 1047;
    // the other two go on as a Primary component of two.
    let started = Instant::now();
    bounded(sb.isolate(2)).await.unwrap();
    eprintln!("isolate(2) took {:?}", started.elapsed());
    let state = sb.galera_state(2).await.unwrap();
    assert_ne!(state.cluster_status, "Primary", "{state:?}");
    assert!(!state.ready, "{state:?}");
    let mut conn = app_conn(&sb, 2).await;
    let err = bounded(conn.query_drop("SELECT COUNT(*) FROM t"))
        .await
        .expect_err("an isolated node refuses table access");
    match err {
        mysql_async::Error::Server(e) => assert_eq!(e.code, 1047, "{e:?}"),
        other => panic!("expected a server error 1047, got {other:?}"),
    }
    let _ = bounded(conn.disconnect()).await;
    let give_up = Instant::now() + SYNC;
    for i in 0..2 {
        loop {
            let state = sb.galera_state(i).await.unwrap();
            if state.is_synced() && state.cluster_size == 2 {
                break;
            }
            assert!(
                Instant::now() < give_up,
                "node {i} never saw 2 members: {state:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // Written while node 2 is away, found on it after it rejoins (by IST).
    insert(&sb, 0, 2).await;
    let started = Instant::now();
    bounded(sb.rejoin(2)).await.unwrap();
    eprintln!("rejoin(2) took {:?}", started.elapsed());
    assert!(has_row(&sb, 2, 2).await);

    // Desync: Donor/Desynced, still Primary and ready; back to Synced when turned off.
    sb.desync(1, true).await.unwrap();
    let state = sb.galera_state(1).await.unwrap();
    assert_eq!(state.local_state, 2, "{state:?}");
    assert!(state.desync && state.ready, "{state:?}");
    assert_eq!(state.cluster_status, "Primary", "{state:?}");
    bounded(sb.desync(1, false)).await.unwrap();
    assert!(sb.galera_state(1).await.unwrap().is_synced());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_restarted_wiped_and_paused_nodes_come_back() {
    let sb = start_cluster(GaleraStart::StateTransfer).await;
    insert(&sb, 0, 1).await;

    // Kill + restart: it rejoins the running nodes by a state transfer, on the same port, and does not
    // bootstrap a cluster of its own.
    let port = sb.port(1);
    sb.kill(1);
    insert(&sb, 0, 2).await;
    let started = Instant::now();
    bounded(sb.restart(1)).await.unwrap();
    eprintln!(
        "restart(1) after a kill (state transfer) took {:?}",
        started.elapsed()
    );
    assert_eq!(sb.port(1), port);
    let state = sb.galera_state(1).await.unwrap();
    assert_eq!(state.cluster_size, 3, "{state:?}");
    assert!(has_row(&sb, 1, 2).await);
    // Started without `--wsrep-recover`, a SIGKILLed node does not know its position and
    // gets a full SST followed by an IST of the cert index; either is a state transfer.
    let log = std::fs::read_to_string(sb.log_path(1)).unwrap();
    assert!(
        log.contains("rsync SST completed on joiner")
            || log.contains("rsync IST completed on joiner"),
        "node 1 rejoined without a state transfer"
    );

    // Node 0, the one that bootstrapped, restarted while the others run: joins them.
    bounded(sb.restart(0)).await.unwrap();
    assert_eq!(sb.galera_state(0).await.unwrap().cluster_size, 3);

    // A full rsync SST into a wiped node.
    insert(&sb, 1, 3).await;
    let started = Instant::now();
    bounded(sb.rejoin_by_sst(2)).await.unwrap();
    eprintln!("rejoin_by_sst(2) took {:?}", started.elapsed());
    assert!(has_row(&sb, 2, 3).await);
    assert!(
        std::fs::read_to_string(sb.log_path(2))
            .unwrap()
            .contains("rsync SST completed on joiner"),
        "node 2 joined without an rsync SST"
    );

    // A paused node is dropped by the others within the suspect/inactive timeouts and
    // comes back after resume.
    let started = Instant::now();
    sb.pause(2);
    let give_up = Instant::now() + Duration::from_secs(20);
    loop {
        let state = sb.galera_state(0).await.unwrap();
        if state.cluster_size == 2 && state.is_synced() {
            break;
        }
        assert!(Instant::now() < give_up, "node 2 never dropped: {state:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("a paused node was dropped after {:?}", started.elapsed());
    insert(&sb, 0, 4).await;
    sb.resume(2);
    let started = Instant::now();
    // Right after SIGCONT node 2 still reports its old view (Synced, of 3) until it notices
    // it was dropped: wait for the others to count it again first.
    let give_up = Instant::now() + SYNC;
    loop {
        let state = sb.galera_state(0).await.unwrap();
        if state.cluster_size == 3 {
            break;
        }
        assert!(
            Instant::now() < give_up,
            "node 2 never came back: {state:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bounded(sb.wait_synced(2, SYNC)).await.unwrap();
    eprintln!("a resumed node was Synced after {:?}", started.elapsed());
    assert!(has_row(&sb, 2, 4).await);

    // With every node down, a restart bootstraps a new cluster from that node.
    for i in 0..3 {
        sb.kill(i);
    }
    let started = Instant::now();
    bounded(sb.restart(1)).await.unwrap();
    eprintln!(
        "restart(1) with no node up (bootstrap) took {:?}",
        started.elapsed()
    );
    let state = sb.galera_state(1).await.unwrap();
    assert_eq!(state.cluster_size, 1, "{state:?}");
    assert!(has_row(&sb, 1, 4).await);
}

#[tokio::test]
async fn zero_nodes_are_refused() {
    let err = Sandbox::start_galera(0).await.unwrap_err();
    assert!(err.to_string().contains("at least one node"), "{err}");
}
