//! What a caller is told when a connection is lost, against real MariaDB servers: a
//! transaction is never silently split across two connections, an ambiguous `COMMIT` says so,
//! prepared statements survive a reconnect correctly, runtime host changes do not race, and
//! only hosts that are really down are blacklisted.
//!
//! Each test starts its own servers on fresh ports (so the process-wide blacklist never mixes
//! tests up), and every wait is bounded.

mod common;

use std::collections::{BTreeSet, HashSet};
use std::future::Future;
use std::sync::Barrier;
use std::time::Duration;

use common::*;
use mysql_async::prelude::Queryable;
use mysql_lb::{
    Blacklist, DataOutcome, Error, HostAddr, HostSpec, HostState, LoadBalancedConnection,
    LoadBalancedPool, Role,
};
use mysql_lb_sandbox::{FaultProxy, ProxyMode, Sandbox};

/// How long a killed connection idles before the next statement: past `idle_ping_after=100ms`,
/// so that statement's idle ping is what finds the connection dead.
const IDLE: Duration = Duration::from_millis(300);

/// Fails the test if `fut` does not finish within [`BOUND`].
async fn within<F: Future>(fut: F) -> F::Output {
    tokio::time::timeout(BOUND, fut)
        .await
        .expect("operation did not finish within the bound")
}

/// Unwraps an `Err` that must hold this crate's error matching `$pat`; returns the error.
macro_rules! expect_lb_err {
    ($result:expr, $pat:pat) => {
        match $result {
            Ok(v) => panic!("expected Err({}), got Ok({v:?})", stringify!($pat)),
            Err(e) => {
                assert!(
                    matches!(Error::from_mysql(&e), Some($pat)),
                    "expected {}, got: {e}",
                    stringify!($pat)
                );
                e
            }
        }
    };
}

/// `n` servers, each with an empty table `app.t (k INT)`.
async fn with_table(n: usize) -> Sandbox {
    let sb = within(Sandbox::start(n)).await.unwrap();
    on_all(&sb, "CREATE DATABASE app").await;
    on_all(&sb, "CREATE TABLE app.t (k INT) ENGINE=InnoDB").await;
    sb
}

/// A handle over the sandbox's servers with extra options.
async fn connect(sb: &Sandbox, options: &str) -> LoadBalancedConnection {
    within(LoadBalancedConnection::connect(opts(sb, options)))
        .await
        .unwrap()
}

/// `BEGIN` and an insert of 1 into `app.t`: an open transaction with a row in it.
async fn begin_with_row(conn: &mut LoadBalancedConnection) {
    within(conn.query_drop("BEGIN")).await.unwrap();
    within(conn.query_drop("INSERT INTO app.t VALUES (1)"))
        .await
        .unwrap();
}

/// The rows of `app.t` on server `i`, read over a fresh connection (committed data only).
async fn keys(sb: &Sandbox, i: usize) -> Vec<i64> {
    sb.sql(i, "SELECT k FROM app.t ORDER BY k")
        .await
        .unwrap()
        .into_iter()
        .map(mysql_async::from_row)
        .collect()
}

/// The index of the server listening on `addr`'s port.
fn index_of(sb: &Sandbox, addr: &HostAddr) -> usize {
    (0..sb.len())
        .find(|&i| sb.port(i) == addr.port())
        .unwrap_or_else(|| panic!("{addr} is not a server of the sandbox"))
}

/// The server-side id of the handle's current connection.
async fn connection_id(conn: &mut LoadBalancedConnection) -> u64 {
    within(conn.query_first("SELECT CONNECTION_ID()"))
        .await
        .unwrap()
        .unwrap()
}

/// Waits until connection `id` is gone from server `i`'s process list.
async fn wait_gone(sb: &Sandbox, i: usize, id: u64) {
    let sql = format!("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = {id}");
    let gone = async {
        loop {
            let rows = sb.sql(i, &sql).await.unwrap();
            if mysql_async::from_row::<i64>(rows[0].clone()) == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), gone)
        .await
        .expect("the killed connection never left the process list");
}

/// Kills the handle's current connection from the server's side (`KILL CONNECTION`), waits
/// until it is gone, and returns the server's index.
async fn kill_current(sb: &Sandbox, conn: &mut LoadBalancedConnection) -> usize {
    let id = connection_id(conn).await;
    let i = index_of(sb, conn.current_host().expect("connected"));
    sb.exec(i, &format!("KILL CONNECTION {id}")).await.unwrap();
    wait_gone(sb, i, id).await;
    i
}

/// Asserts that none of `hosts` is on the process-wide blacklist now and after 1.5 s and 3 s
/// (time enough for a confirmation probe to finish).
async fn assert_never_blacklisted(hosts: &[HostAddr]) {
    for at in [
        Duration::ZERO,
        Duration::from_millis(1500),
        Duration::from_millis(1500),
    ] {
        tokio::time::sleep(at).await;
        for h in hosts {
            let entry = Blacklist::global()
                .snapshot()
                .into_iter()
                .find(|e| &e.addr == h);
            assert!(
                entry.is_none(),
                "{h} was blacklisted: {}",
                entry.map(|e| e.reason).unwrap_or_default()
            );
        }
    }
}

// ---- A. a transaction is never silently split ----

/// The connection of an open transaction is killed while the handle idles; the next
/// statement's idle ping finds it dead. That statement must not run in autocommit on a new
/// connection (which would commit the second half of the transaction without the first).
#[tokio::test]
async fn a_transaction_killed_while_idle_is_lost_not_split() {
    let sb = with_table(1).await;
    let mut conn = connect(&sb, "idle_ping_after=100ms").await;
    begin_with_row(&mut conn).await;
    kill_current(&sb, &mut conn).await;
    tokio::time::sleep(IDLE).await;

    let r = within(conn.query_drop("INSERT INTO app.t VALUES (2)")).await;
    expect_lb_err!(r, Error::TransactionLost { .. });
    let commit = within(conn.query_drop("COMMIT")).await;
    eprintln!("COMMIT after the lost transaction: {commit:?}");
    assert_eq!(
        keys(&sb, 0).await,
        Vec::<i64>::new(),
        "nothing of the lost transaction may be committed"
    );

    // The handle works again, in autocommit.
    within(conn.query_drop("SELECT 1")).await.unwrap();
    within(conn.query_drop("INSERT INTO app.t VALUES (3)"))
        .await
        .unwrap();
    assert_eq!(keys(&sb, 0).await, vec![3]);
}

/// (a) The transaction's connection is abandoned by a cancelled statement (its future
/// dropped by a timeout): the next statement must not start afresh in autocommit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_whose_statement_was_cancelled_is_lost_not_split() {
    let sb = with_table(1).await;
    let mut conn = connect(&sb, "idle_ping_after=100ms").await;
    begin_with_row(&mut conn).await;
    let cancelled = tokio::time::timeout(
        Duration::from_millis(100),
        conn.query_drop("SELECT SLEEP(2)"),
    )
    .await;
    assert!(cancelled.is_err(), "SELECT SLEEP(2) finished in 100 ms");

    let r = within(conn.query_drop("INSERT INTO app.t VALUES (2)")).await;
    expect_lb_err!(r, Error::TransactionLost { .. });
    let commit = within(conn.query_drop("COMMIT")).await;
    eprintln!("COMMIT after the lost transaction: {commit:?}");
    assert_eq!(
        keys(&sb, 0).await,
        Vec::<i64>::new(),
        "nothing of the cancelled transaction may be committed"
    );
    within(conn.query_drop("SELECT 1")).await.unwrap();
}

/// (b) The same with autocommit off instead of `BEGIN`: the transaction is implicit, and a
/// `COMMIT` after the loss must not commit half of it.
#[tokio::test]
async fn an_implicit_transaction_with_autocommit_off_is_lost_not_split() {
    let sb = with_table(1).await;
    let mut conn = connect(&sb, "idle_ping_after=100ms").await;
    within(conn.set_autocommit(false)).await.unwrap();
    within(conn.query_drop("INSERT INTO app.t VALUES (1)"))
        .await
        .unwrap();
    kill_current(&sb, &mut conn).await;
    tokio::time::sleep(IDLE).await;

    let r = within(conn.query_drop("INSERT INTO app.t VALUES (2)")).await;
    expect_lb_err!(r, Error::TransactionLost { .. });
    let commit = within(conn.query_drop("COMMIT")).await;
    eprintln!("COMMIT after the lost transaction: {commit:?}");
    assert_eq!(
        keys(&sb, 0).await,
        Vec::<i64>::new(),
        "nothing of the lost implicit transaction may be committed"
    );
    within(conn.query_drop("SELECT 1")).await.unwrap();
}

/// (c) The main case on a handle checked out of a [`LoadBalancedPool`].
#[tokio::test]
async fn a_pooled_transaction_killed_while_idle_is_lost_not_split() {
    let sb = with_table(1).await;
    let pool = LoadBalancedPool::new(opts(&sb, "idle_ping_after=100ms"));
    let mut conn = within(pool.get_conn()).await.unwrap();
    begin_with_row(&mut conn).await;
    kill_current(&sb, &mut conn).await;
    tokio::time::sleep(IDLE).await;

    let r = within(conn.query_drop("INSERT INTO app.t VALUES (2)")).await;
    expect_lb_err!(r, Error::TransactionLost { .. });
    let commit = within(conn.query_drop("COMMIT")).await;
    eprintln!("COMMIT after the lost transaction: {commit:?}");
    assert_eq!(keys(&sb, 0).await, Vec::<i64>::new());

    within(conn.query_drop("SELECT 1")).await.unwrap();
    within(conn.query_drop("INSERT INTO app.t VALUES (3)"))
        .await
        .unwrap();
    assert_eq!(keys(&sb, 0).await, vec![3]);
    drop(conn);
    within(pool.disconnect()).await;
}

/// (d) The server restarts under an open transaction while the handle idles.
#[tokio::test]
async fn a_transaction_across_a_server_restart_is_lost_not_split() {
    let sb = with_table(1).await;
    let mut conn = connect(&sb, "idle_ping_after=100ms").await;
    begin_with_row(&mut conn).await;
    within(sb.restart(0)).await.unwrap();
    tokio::time::sleep(IDLE).await;

    let r = within(conn.query_drop("INSERT INTO app.t VALUES (2)")).await;
    expect_lb_err!(r, Error::TransactionLost { .. });
    let commit = within(conn.query_drop("COMMIT")).await;
    eprintln!("COMMIT after the lost transaction: {commit:?}");
    assert_eq!(keys(&sb, 0).await, Vec::<i64>::new());
    within(conn.query_drop("SELECT 1")).await.unwrap();
}

/// (e) A user variable is session state that cannot move: after the connection was killed,
/// reading it must fail with `SessionLost`, not return NULL from a new session.
#[tokio::test]
async fn a_user_variable_killed_while_idle_is_session_lost_not_null() {
    let sb = Sandbox::start(1).await.unwrap();
    let mut conn = connect(&sb, "idle_ping_after=100ms").await;
    within(conn.query_drop("SET @v = 42")).await.unwrap();
    let v: Option<Option<i64>> = within(conn.query_first("SELECT @v")).await.unwrap();
    assert_eq!(v, Some(Some(42)));
    kill_current(&sb, &mut conn).await;
    tokio::time::sleep(IDLE).await;

    let r = within(conn.query_first::<Option<i64>, _>("SELECT @v")).await;
    expect_lb_err!(r, Error::SessionLost { .. });
    within(conn.query_drop("SELECT 1")).await.unwrap();
}

/// (f) Guard: the connection is killed and the next statement of the transaction follows at
/// once (no idle ping involved): it fails on the dead connection itself.
#[tokio::test]
async fn a_transaction_killed_just_before_a_statement_is_lost() {
    let sb = with_table(1).await;
    let mut conn = connect(&sb, "idle_ping_after=60s").await;
    begin_with_row(&mut conn).await;
    kill_current(&sb, &mut conn).await;

    let r = within(conn.query_drop("INSERT INTO app.t VALUES (2)")).await;
    expect_lb_err!(r, Error::TransactionLost { .. });
    let commit = within(conn.query_drop("COMMIT")).await;
    eprintln!("COMMIT after the lost transaction: {commit:?}");
    assert_eq!(keys(&sb, 0).await, Vec::<i64>::new());
    within(conn.query_drop("SELECT 1")).await.unwrap();
}

// ---- B. an ambiguous COMMIT says so ----

/// `COMMIT` reached the server and was executed, but its answer never came back: the caller
/// must be told the outcome is unknown, not that the transaction was lost.
#[tokio::test]
async fn a_commit_whose_reply_is_lost_is_commit_unknown() {
    let sb = with_table(1).await;
    let proxy = FaultProxy::start(sb.addr(0)).await.unwrap();
    let lb_opts = url_for(&[proxy.port()], "").parse().unwrap();
    let mut conn = within(LoadBalancedConnection::connect(lb_opts))
        .await
        .unwrap();
    begin_with_row(&mut conn).await;
    proxy.set_mode(ProxyMode::CutReplyTo("COMMIT"));

    let r = within(conn.query_drop("COMMIT")).await;
    let e = expect_lb_err!(r, Error::CommitUnknown { .. });
    assert_eq!(Error::outcome(&e), DataOutcome::Unknown);
    assert_eq!(
        keys(&sb, 0).await,
        vec![1],
        "the server did commit (read directly from it)"
    );

    proxy.set_mode(ProxyMode::Pass);
    within(conn.query_drop("SELECT 1")).await.unwrap();
}

/// The contrast: the connection died before `COMMIT` was sent (killed, then idle), so the
/// transaction is known not to have committed.
#[tokio::test]
async fn a_commit_after_the_connection_was_killed_is_transaction_lost_not_applied() {
    let sb = with_table(1).await;
    let mut conn = connect(&sb, "idle_ping_after=100ms").await;
    begin_with_row(&mut conn).await;
    kill_current(&sb, &mut conn).await;
    tokio::time::sleep(IDLE).await;

    let r = within(conn.query_drop("COMMIT")).await;
    let e = expect_lb_err!(r, Error::TransactionLost { .. });
    assert_eq!(Error::outcome(&e), DataOutcome::NotApplied);
    assert_eq!(keys(&sb, 0).await, Vec::<i64>::new());
    within(conn.query_drop("SELECT 1")).await.unwrap();
}

/// The same ambiguity through [`mysql_lb::LoadBalancedTransaction::commit`].
#[tokio::test]
async fn lb_transaction_commit_whose_reply_is_lost_is_commit_unknown() {
    let sb = with_table(1).await;
    let proxy = FaultProxy::start(sb.addr(0)).await.unwrap();
    let lb_opts = url_for(&[proxy.port()], "").parse().unwrap();
    let mut conn = within(LoadBalancedConnection::connect(lb_opts))
        .await
        .unwrap();
    let mut tx = within(conn.start_transaction(Default::default()))
        .await
        .unwrap();
    within(tx.query_drop("INSERT INTO app.t VALUES (1)"))
        .await
        .unwrap();
    proxy.set_mode(ProxyMode::CutReplyTo("COMMIT"));

    match within(tx.commit()).await {
        Err(Error::CommitUnknown { .. }) => {}
        other => panic!("expected Err(CommitUnknown), got {other:?}"),
    }
    assert_eq!(keys(&sb, 0).await, vec![1], "the server did commit");
    proxy.set_mode(ProxyMode::Pass);
    within(conn.query_drop("SELECT 1")).await.unwrap();
}

// ---- C. prepared statements after the handle moved to a new connection ----

/// A statement prepared on the new connection works (by reference and by value); one from
/// the lost connection is refused (MariaDB numbers statements per connection, so both may
/// well have the same id).
#[tokio::test]
async fn statements_prepared_after_a_reconnect_work_and_older_ones_are_refused() {
    let sb = Sandbox::start(1).await.unwrap();
    let mut conn = within(LoadBalancedConnection::connect(opts(&sb, "")))
        .await
        .unwrap();
    let s1 = within(conn.prep("SELECT ?")).await.unwrap();
    let v: Option<i64> = within(conn.exec_first(&s1, (1,))).await.unwrap();
    assert_eq!(v, Some(1));
    kill_current(&sb, &mut conn).await;
    // Moves to a new connection (a read: retried if it meets the dead one).
    within(conn.query_drop("SELECT 1")).await.unwrap();

    let s2 = within(conn.prep("SELECT ? + 1")).await.unwrap();
    eprintln!("statement ids: s1 {}, s2 {}", s1.id(), s2.id());
    let v = within(conn.exec_first::<i64, _, _>(&s2, (1,))).await;
    assert_eq!(
        v.map_err(|e| e.to_string()),
        Ok(Some(2)),
        "a statement prepared on the current connection"
    );
    let r = within(conn.exec_first::<i64, _, _>(&s1, (1,))).await;
    expect_lb_err!(r, Error::StaleStatement { .. });
    let v = within(conn.exec_first::<i64, _, _>(s2, (2,))).await;
    assert_eq!(
        v.map_err(|e| e.to_string()),
        Ok(Some(3)),
        "the same statement passed by value"
    );
}

/// Guard: after the move, executing SQL text prepares it on the new connection.
#[tokio::test]
async fn sql_text_executes_after_a_reconnect() {
    let sb = Sandbox::start(1).await.unwrap();
    let mut conn = within(LoadBalancedConnection::connect(opts(&sb, "")))
        .await
        .unwrap();
    let s1 = within(conn.prep("SELECT ?")).await.unwrap();
    let _: Option<i64> = within(conn.exec_first(&s1, (1,))).await.unwrap();
    kill_current(&sb, &mut conn).await;
    within(conn.query_drop("SELECT 1")).await.unwrap();
    let v: Option<i64> = within(conn.exec_first("SELECT ?", (5,))).await.unwrap();
    assert_eq!(v, Some(5));
}

// ---- D. runtime host changes do not race ----

fn spec(port: u16) -> HostSpec {
    HostSpec::new("127.0.0.1", port, Role::Any)
}

/// A pool over 127.0.0.1 ports 1..=4 (nothing is dialled).
fn pool_over_four() -> LoadBalancedPool {
    LoadBalancedPool::new(url_for(&[1, 2, 3, 4], "").parse().unwrap())
}

fn host_ports(pool: &LoadBalancedPool) -> Vec<u16> {
    pool.hosts().iter().map(|h| h.addr.port()).collect()
}

/// Checks that `stats()` lists every address once, and every configured host as not removed.
fn assert_stats_consistent(pool: &LoadBalancedPool) {
    let stats = pool.stats();
    let mut seen = HashSet::new();
    for s in &stats {
        assert!(
            seen.insert(s.addr.clone()),
            "stats() lists {} twice",
            s.addr
        );
    }
    for h in pool.hosts() {
        let s = stats
            .iter()
            .find(|s| s.addr == h.addr)
            .unwrap_or_else(|| panic!("{} is in hosts() but not in stats()", h.addr));
        assert_ne!(s.state, HostState::Removed, "{} is in hosts()", h.addr);
    }
}

/// Four threads add and remove hosts of their own at once: no change may be lost. Each
/// thread alone touches its two hosts, so after each of its steps it checks that they are
/// listed exactly as it left them (another thread's change must never undo one of its own).
#[test]
fn concurrent_add_and_remove_of_distinct_hosts_loses_no_change() {
    let pool = pool_over_four();
    let mut undone = Vec::new();
    std::thread::scope(|s| {
        let mut threads = Vec::new();
        for t in 0..4u16 {
            let pool = &pool;
            threads.push(s.spawn(move || {
                let (stays, goes) = (spec(100 + t), spec(200 + t));
                let mut undone = Vec::new();
                let mut check = |step: &str, want_stays: bool, want_goes: bool| {
                    let ports = host_ports(pool);
                    let base = [1, 2, 3, 4].iter().all(|p| ports.contains(p));
                    if ports.contains(&(100 + t)) != want_stays
                        || ports.contains(&(200 + t)) != want_goes
                        || !base
                    {
                        undone.push(format!("thread {t} after {step}: {ports:?}"));
                    }
                };
                for _ in 0..2000 {
                    pool.add_host(stays.clone());
                    check("add stays", true, false);
                    pool.add_host(goes.clone());
                    check("add goes", true, true);
                    pool.remove_host(&stays.addr, Duration::ZERO);
                    check("remove stays", false, true);
                    pool.remove_host(&goes.addr, Duration::ZERO);
                    check("remove goes", false, false);
                    pool.add_host(stays.clone());
                    check("add stays again", true, false);
                }
                undone
            }));
        }
        for th in threads {
            undone.extend(th.join().unwrap());
        }
    });
    assert!(
        undone.is_empty(),
        "{} steps of 40000 were undone by another thread, first: {:?}",
        undone.len(),
        undone.first()
    );
    let hosts = host_ports(&pool);
    let expected: BTreeSet<u16> = [1, 2, 3, 4, 100, 101, 102, 103].into();
    assert_eq!(
        hosts.iter().copied().collect::<BTreeSet<_>>(),
        expected,
        "hosts() after the threads: {hosts:?}"
    );
    assert_eq!(
        hosts.len(),
        expected.len(),
        "a host listed twice: {hosts:?}"
    );
    assert_stats_consistent(&pool);

    // A removed host comes back.
    assert!(pool.remove_host(&spec(200).addr, Duration::ZERO) || !hosts.contains(&200));
    pool.add_host(spec(200));
    assert!(host_ports(&pool).contains(&200));
    assert!(pool.remove_host(&spec(1).addr, Duration::ZERO));
    assert!(!host_ports(&pool).contains(&1));
    pool.add_host(spec(1));
    assert!(host_ports(&pool).contains(&1));
    assert_stats_consistent(&pool);
}

/// Two threads remove two different hosts at the same moment, over and over: neither removal
/// may be undone by the other.
#[test]
fn two_simultaneous_removals_both_take_effect() {
    let pool = pool_over_four();
    let barrier = Barrier::new(2);
    let mut undone = Vec::new();
    std::thread::scope(|s| {
        let mut threads = Vec::new();
        for t in 0..2u16 {
            let (pool, barrier) = (&pool, &barrier);
            threads.push(s.spawn(move || {
                let mine = spec(1 + t);
                let mut undone = Vec::new();
                for round in 0..20_000 {
                    barrier.wait();
                    assert!(pool.remove_host(&mine.addr, Duration::ZERO));
                    barrier.wait();
                    if t == 0 {
                        let ports = host_ports(pool);
                        if ports.contains(&1) || ports.contains(&2) {
                            undone.push((round, ports));
                        }
                        // Put both back, one after the other (no race here).
                        pool.add_host(spec(1));
                        pool.add_host(spec(2));
                    }
                }
                undone
            }));
        }
        for th in threads {
            undone.extend(th.join().unwrap());
        }
    });
    assert!(
        undone.is_empty(),
        "{} of 20000 rounds left a removed host listed, first: {:?}",
        undone.len(),
        undone.first()
    );
    assert_stats_consistent(&pool);
}

// ---- E. only hosts that are really down are blacklisted ----

/// A connection killed by an administrator (or a proxy's idle reaper) is not a host failure:
/// the read moves on, and the host stays usable.
#[tokio::test]
async fn a_killed_connection_does_not_blacklist_its_host() {
    let sb = Sandbox::start(3).await.unwrap();
    let mut conn = connect(&sb, "idle_ping_after=60s").await;
    within(conn.query_drop("SELECT 1")).await.unwrap();
    let i = kill_current(&sb, &mut conn).await;
    let port = within(served_by(&mut conn)).await;
    assert!(port.is_ok(), "the read was not retried: {port:?}");
    assert_never_blacklisted(&[addr(&sb, i)]).await;
}

/// A connection closed by the server's `wait_timeout` is not a host failure either.
#[tokio::test]
async fn a_wait_timeout_close_does_not_blacklist_the_host() {
    let sb = Sandbox::start(3).await.unwrap();
    on_all(&sb, "SET GLOBAL wait_timeout = 1").await;
    let mut conn = connect(&sb, "idle_ping_after=60s").await;
    within(conn.query_drop("SELECT 1")).await.unwrap();
    let id = connection_id(&mut conn).await;
    let i = index_of(&sb, conn.current_host().unwrap());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    wait_gone(&sb, i, id).await;
    on_all(&sb, "SET GLOBAL wait_timeout = 28800").await;

    let port = within(served_by(&mut conn)).await;
    assert!(port.is_ok(), "the read was not retried: {port:?}");
    assert_never_blacklisted(&[addr(&sb, i)]).await;
}

/// A statement slower than `socket_timeout` is the statement's problem, not the host's.
#[tokio::test]
async fn a_statement_timeout_does_not_blacklist_any_host() {
    let sb = Sandbox::start(2).await.unwrap();
    let mut conn = connect(&sb, "socket_timeout=1s").await;
    within(conn.query_drop("SELECT 1")).await.unwrap();
    let r = within(conn.query_drop("SELECT SLEEP(1.5)")).await;
    let e = r.expect_err("SELECT SLEEP(1.5) beat a 1 s socket_timeout");
    eprintln!("SELECT SLEEP(1.5) with socket_timeout=1s: {e}");
    assert_never_blacklisted(&[addr(&sb, 0), addr(&sb, 1)]).await;
    within(conn.query_drop("SELECT 1")).await.unwrap();
}

/// Guard: a server that really died is blacklisted, within `connect_timeout` + 1 s.
#[tokio::test]
async fn a_sigkilled_server_is_blacklisted() {
    let sb = Sandbox::start(3).await.unwrap();
    let mut conn = connect(&sb, "idle_ping_after=60s&connect_timeout=1s").await;
    within(conn.query_drop("SELECT 1")).await.unwrap();
    let i = index_of(&sb, conn.current_host().unwrap());
    sb.kill(i);
    let port = within(served_by(&mut conn)).await.unwrap();
    assert_ne!(port, sb.port(i));
    let dead = addr(&sb, i);
    let listed = async {
        while !Blacklist::global().contains(&dead) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(2), listed)
        .await
        .unwrap_or_else(|_| panic!("{dead} was not blacklisted within 2 s"));
}

// ---- F. an error packet is the server answering ----

/// A statement that raises SQLSTATE 08S01 by `SIGNAL` got an answer from a healthy server:
/// the error goes to the caller, the host is not blacklisted, the connection is kept.
#[tokio::test]
async fn a_signalled_connection_sqlstate_is_returned_and_not_a_host_failure() {
    let sb = Sandbox::start(1).await.unwrap();
    sb.exec(0, "CREATE DATABASE app").await.unwrap();
    sb.exec(
        0,
        "CREATE PROCEDURE app.fail_08() SIGNAL SQLSTATE '08S01' SET MESSAGE_TEXT = 'user error'",
    )
    .await
    .unwrap();
    let mut conn = within(LoadBalancedConnection::connect(opts(&sb, "")))
        .await
        .unwrap();
    let before = connection_id(&mut conn).await;

    let e = within(conn.query_drop("CALL app.fail_08()"))
        .await
        .expect_err("the procedure signals an error");
    let server = match (&e, Error::from_mysql(&e)) {
        (mysql_async::Error::Server(s), _) => s.clone(),
        (_, Some(Error::Mysql(mysql_async::Error::Server(s)))) => s.clone(),
        _ => panic!("expected the server's error, got: {e}"),
    };
    eprintln!("the server's error: {server:?}");
    assert_eq!(server.state, "08S01");
    assert_eq!(server.message, "user error");
    assert!(
        !Blacklist::global().contains(&addr(&sb, 0)),
        "the host was blacklisted"
    );
    assert_eq!(
        connection_id(&mut conn).await,
        before,
        "the connection was dropped"
    );
}

// ---- a failed streaming statement applies the same rule ----

/// A `query_iter` that meets a lost connection in a pinned session reports the session lost,
/// and the handle forgets the pin with the connection: a later plain read is retried like any
/// other, and the handle rebalances again. (Before the rule was written once, the streaming
/// path left the handle pinned for good.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_query_iter_in_a_pinned_session_reports_it_and_unpins() {
    let sb = with_table(2).await;
    let opts = opts(&sb, "autocommit_threshold=1&idle_ping_after=60s");
    let mut conn = within(LoadBalancedConnection::connect(opts)).await.unwrap();
    within(conn.query_drop("SET @v = 1")).await.unwrap();
    assert!(conn.pinned_by().is_some());
    kill_current(&sb, &mut conn).await;
    let r = within(conn.query_iter("SELECT 1")).await.map(drop);
    expect_lb_err!(r, Error::SessionLost { .. });
    assert_eq!(conn.pinned_by(), None);
    // Plain reads work again and go to both hosts (the handle rebalances).
    let mut seen = HashSet::new();
    for _ in 0..40 {
        seen.insert(within(served_by(&mut conn)).await.unwrap());
    }
    assert_eq!(seen.len(), 2, "the handle never left one host: {seen:?}");
}

// ---- classification: only what cannot write is retried ----

/// `SELECT bump()` calls a stored function that inserts. Its reply is cut after the server
/// ran it; the handle must not run it again on the other address of the same server (that
/// would insert twice).
#[tokio::test]
async fn a_select_calling_a_stored_function_is_never_retried() {
    let sb = with_table(1).await;
    sb.exec(
        0,
        "CREATE FUNCTION app.bump() RETURNS INT MODIFIES SQL DATA \
         BEGIN INSERT INTO app.t VALUES (7); RETURN 1; END",
    )
    .await
    .unwrap();
    // Two addresses of one server: the proxy first (sequential), the server itself second.
    let proxy = FaultProxy::start(sb.addr(0)).await.unwrap();
    let lb_opts = url_for(&[proxy.port(), sb.port(0)], "strategy=sequential")
        .parse()
        .unwrap();
    let mut conn = within(LoadBalancedConnection::connect(lb_opts))
        .await
        .unwrap();
    proxy.set_mode(ProxyMode::CutReplyTo("SELECT app.bump"));
    let r = within(conn.query_first::<i64, _>("SELECT app.bump()")).await;
    let e = expect_lb_err!(r, Error::WriteNotRetried { .. });
    assert_eq!(Error::outcome(&e), DataOutcome::Unknown);
    assert_eq!(keys(&sb, 0).await, vec![7], "inserted once, not twice");
}

/// A read that sets a user variable pins the session: with a rebalance after every
/// statement, the variable is read back from the host that set it, every time.
#[tokio::test]
async fn a_user_variable_set_by_a_select_pins_the_session() {
    let sb = with_table(2).await;
    let lb_opts = opts(&sb, "autocommit_threshold=1");
    let mut conn = within(LoadBalancedConnection::connect(lb_opts))
        .await
        .unwrap();
    within(conn.query_drop("SELECT @x := @@port"))
        .await
        .unwrap();
    let first: Option<i64> = within(conn.query_first("SELECT @x")).await.unwrap();
    for _ in 0..20 {
        let again: Option<i64> = within(conn.query_first("SELECT @x")).await.unwrap();
        assert_eq!(again, first, "the variable was read on another host");
    }
    assert_eq!(conn.pinned_by(), Some("a user variable"));
}
