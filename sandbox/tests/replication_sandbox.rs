//! The sandbox's GTID replication set against real `mariadbd` servers: roles at start,
//! rows reaching replicas, a lagging replica, promote / demote, and restarts.
//!
//! Each test gets its own set (one source, two replicas): the tests change roles and stop
//! replication threads, which would disturb each other on a shared set, and a set starts
//! about as fast as a plain three-server sandbox. Every wait is bounded.

mod common;

use std::time::{Duration, Instant};

use common::{app_conn, bounded};
use mysql_async::prelude::Queryable;
use mysql_lb_sandbox::{APP_USER, Sandbox};

/// How long a replica gets to catch up when it should.
const CATCH_UP: Duration = Duration::from_secs(20);

/// A source with two replicas, with the start time printed.
async fn start_set() -> Sandbox {
    let started = Instant::now();
    let sb = bounded(Sandbox::start_replication(2))
        .await
        .expect("start a replication set");
    eprintln!("Sandbox::start_replication(2) took {:?}", started.elapsed());
    sb.exec(
        0,
        "CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY)",
    )
    .await
    .expect("schema on the source");
    sb
}

/// Inserts `id` on server `i` as the application account.
async fn insert(sb: &Sandbox, i: usize, id: u32) -> mysql_async::Result<()> {
    let mut conn = app_conn(sb, i).await;
    let result = bounded(conn.query_drop(format!("INSERT INTO t VALUES ({id})"))).await;
    let _ = bounded(conn.disconnect()).await;
    result
}

/// Whether server `i` has row `id`.
async fn has_row(sb: &Sandbox, i: usize, id: u32) -> bool {
    let rows = sb
        .sql(i, &format!("SELECT id FROM app.t WHERE id = {id}"))
        .await
        .expect("select");
    !rows.is_empty()
}

async fn read_only(sb: &Sandbox, i: usize) -> bool {
    let rows = sb.sql(i, "SELECT @@global.read_only").await.unwrap();
    rows[0].get::<i64, _>(0) == Some(1)
}

/// Asserts that the app account's write on server `i` is refused as read-only (1290).
async fn assert_write_refused(sb: &Sandbox, i: usize, id: u32) {
    match insert(sb, i, id).await {
        Err(mysql_async::Error::Server(e)) if e.code == 1290 => {}
        other => panic!("expected error 1290 on server {i}, got {other:?}"),
    }
}

#[tokio::test]
async fn the_set_starts_read_only_replicas_that_get_the_sources_rows() {
    let sb = start_set().await;
    assert_eq!(sb.len(), 3);
    assert_eq!(sb.source(), 0);
    assert!(!read_only(&sb, 0).await);
    assert!(read_only(&sb, 1).await);
    assert!(read_only(&sb, 2).await);

    insert(&sb, 0, 1).await.expect("app writes on the source");
    assert_write_refused(&sb, 1, 2).await;
    assert_write_refused(&sb, 2, 2).await;
    for i in 1..=2 {
        sb.wait_caught_up(i, CATCH_UP).await.unwrap();
        assert!(has_row(&sb, i, 1).await, "replica {i} lacks the row");
        assert!(
            sb.replica_lag(i).await.unwrap().is_some(),
            "replica {i} replicates"
        );
    }
    // The app account has no privilege that bypasses read_only.
    let grants = sb
        .sql(0, &format!("SHOW GRANTS FOR '{APP_USER}'@'%'"))
        .await
        .unwrap();
    let grants: String = grants[0].get(0).unwrap();
    assert!(!grants.contains("SUPER"), "{grants}");
    assert!(!grants.contains("READ_ONLY ADMIN"), "{grants}");
    assert!(!grants.contains("ALL PRIVILEGES"), "{grants}");

    assert_eq!(
        sb.replication_url(),
        format!(
            "mysql:replication://app:app-secret@127.0.0.1:{},127.0.0.1:{},127.0.0.1:{}/",
            sb.port(0),
            sb.port(1),
            sb.port(2)
        )
    );
    // Not a replica: no lag to report.
    assert_eq!(sb.replica_lag(0).await.unwrap(), None);
}

#[tokio::test]
async fn a_stopped_sql_thread_lags_until_it_is_started() {
    let sb = start_set().await;
    sb.stop_replica_sql(1).await.unwrap();
    assert_eq!(sb.replica_lag(1).await.unwrap(), None);
    insert(&sb, 0, 1).await.unwrap();
    sb.wait_caught_up(2, CATCH_UP).await.unwrap();
    assert!(has_row(&sb, 2, 1).await);

    // Replica 1 received the row but does not apply it.
    let err = sb
        .wait_caught_up(1, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("did not apply"), "{err}");
    assert!(!has_row(&sb, 1, 1).await);

    sb.start_replica_sql(1).await.unwrap();
    sb.wait_caught_up(1, CATCH_UP).await.unwrap();
    assert!(has_row(&sb, 1, 1).await);
    assert!(sb.replica_lag(1).await.unwrap().is_some());
}

#[tokio::test]
async fn promote_and_demote_move_the_source() {
    let sb = start_set().await;
    insert(&sb, 0, 1).await.unwrap();
    sb.wait_caught_up(1, CATCH_UP).await.unwrap();

    sb.promote(1).await.unwrap();
    sb.demote(0, 1).await.unwrap();
    sb.demote(2, 1).await.unwrap();
    assert_eq!(sb.source(), 1);
    assert!(!read_only(&sb, 1).await);
    assert!(read_only(&sb, 0).await);
    assert!(read_only(&sb, 2).await);
    assert!(
        sb.replication_url().contains(&format!(
            "@127.0.0.1:{},127.0.0.1:{},127.0.0.1:{}/",
            sb.port(1),
            sb.port(0),
            sb.port(2)
        )),
        "{}",
        sb.replication_url()
    );

    insert(&sb, 1, 2)
        .await
        .expect("the new source takes writes");
    assert_write_refused(&sb, 0, 3).await;
    for i in [0, 2] {
        sb.wait_caught_up(i, CATCH_UP).await.unwrap();
        assert!(
            has_row(&sb, i, 2).await,
            "server {i} lacks the new source's row"
        );
        // Nothing was applied twice: the old row is there once, replication runs.
        assert!(has_row(&sb, i, 1).await);
        assert!(
            sb.replica_lag(i).await.unwrap().is_some(),
            "replica {i} replicates"
        );
    }
    assert!(sb.demote(1, 1).await.is_err());
}

#[tokio::test]
async fn restarted_servers_keep_their_roles_and_replicate() {
    let sb = start_set().await;
    insert(&sb, 0, 1).await.unwrap();
    bounded(sb.restart(1)).await.unwrap();
    assert!(
        read_only(&sb, 1).await,
        "a restarted replica stays read-only"
    );
    insert(&sb, 0, 2).await.unwrap();
    sb.wait_caught_up(1, CATCH_UP).await.unwrap();
    assert!(has_row(&sb, 1, 1).await && has_row(&sb, 1, 2).await);

    // A restarted source: the replicas reconnect by themselves.
    bounded(sb.restart(0)).await.unwrap();
    assert!(
        !read_only(&sb, 0).await,
        "a restarted source stays writable"
    );
    insert(&sb, 0, 3).await.unwrap();
    for i in 1..=2 {
        sb.wait_caught_up(i, CATCH_UP).await.unwrap();
        assert!(has_row(&sb, i, 3).await);
    }
}
