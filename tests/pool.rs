//! `LoadBalancedPool` against real MariaDB servers: spreading, limits, validation of idle
//! connections, failover under load, hosts added and removed, clean shutdown.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::{BOUND, addr, opts, served_by};
use mysql_async::prelude::Queryable;
use mysql_lb::{Blacklist, Error, HostSpec, HostState, LoadBalancedPool, Role};
use mysql_lb_sandbox::{Sandbox, SandboxOptions};
use tokio::time::Instant;

/// Connections from the `lb` user to server `i`, as the server counts them (minus the one
/// asking).
async fn server_conns(sb: &Sandbox, i: usize) -> usize {
    let rows = sb
        .sql(
            i,
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'lb' AND ID <> CONNECTION_ID()",
        )
        .await
        .unwrap();
    let n: u64 = rows[0].get(0).unwrap();
    n as usize
}

#[tokio::test]
async fn checkouts_spread_over_hosts_and_connections_are_reused() {
    let sb = Sandbox::start(3).await.unwrap();
    let pool = LoadBalancedPool::new(opts(&sb, "strategy=roundRobin"));
    let mut seen = HashSet::new();
    let mut ids = HashSet::new();
    for _ in 0..30 {
        let mut c = pool.get_conn().await.unwrap();
        seen.insert(served_by(&mut c).await.unwrap());
        let id: u32 = c
            .query_first("SELECT CONNECTION_ID()")
            .await
            .unwrap()
            .unwrap();
        ids.insert((c.current_host().unwrap().port(), id));
    }
    assert_eq!(seen.len(), 3, "every host served");
    // Sequential checkouts: one connection per host is enough.
    assert_eq!(
        ids.len(),
        3,
        "connections were reused, not reopened: {ids:?}"
    );
    let stats = pool.stats();
    assert_eq!(stats.len(), 3);
    assert!(
        stats
            .iter()
            .all(|s| s.open == 1 && s.busy == 0 && s.state == HostState::Up),
        "{stats:?}"
    );
    pool.disconnect().await;
}

#[tokio::test]
async fn pool_max_holds_under_many_tasks_and_acquire_timeout_bounds_the_wait() {
    let sb = Arc::new(Sandbox::start(2).await.unwrap());
    let pool = LoadBalancedPool::new(opts(&sb, "pool_max=2&pool_min=2&acquire_timeout=10s"));
    let peak = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..24 {
        let (pool, peak) = (pool.clone(), peak.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..5 {
                let mut c = pool.get_conn().await.unwrap();
                c.query_drop("DO SLEEP(0.005)").await.unwrap();
                let open: usize = pool.stats().iter().map(|s| s.open).sum();
                peak.fetch_max(open, Ordering::SeqCst);
            }
        }));
    }
    // Meanwhile the servers never see more than pool_max connections from the pool.
    let mut server_peak = 0;
    while !tasks.iter().all(|t| t.is_finished()) {
        for i in 0..2 {
            server_peak = server_peak.max(server_conns(&sb, i).await);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for t in tasks {
        tokio::time::timeout(BOUND, t).await.unwrap().unwrap();
    }
    assert!(
        peak.load(Ordering::SeqCst) <= 4,
        "{}",
        peak.load(Ordering::SeqCst)
    );
    assert!(server_peak <= 2, "a server saw {server_peak} connections");

    // Every connection busy: a checkout waits acquire_timeout, then says why.
    let small = LoadBalancedPool::new(opts(&sb, "pool_max=1&acquire_timeout=300ms"));
    let _a = small.get_conn().await.unwrap();
    let _b = small.get_conn().await.unwrap();
    let t = Instant::now();
    let err = small.get_conn().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::PoolExhausted {
                hosts: 2,
                busy: 2,
                ..
            }
        ),
        "{err}"
    );
    assert!(t.elapsed() >= Duration::from_millis(300) && t.elapsed() < Duration::from_secs(3));
    // One comes back: the waiting checkout gets it.
    let waiter = {
        let small = small.clone();
        tokio::spawn(async move { small.get_conn().await.map(|_| ()) })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(_a);
    tokio::time::timeout(BOUND, waiter)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn idle_connections_closed_by_the_server_are_never_handed_out() {
    let sb = Sandbox::start_with(1, SandboxOptions::default().arg("--wait-timeout=1"))
        .await
        .unwrap();
    let pool = LoadBalancedPool::new(opts(&sb, "idle_ping_after=200ms&pool_min=4"));
    // Four idle connections.
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut c = pool.get_conn().await.unwrap();
        c.query_drop("DO 1").await.unwrap();
        held.push(c);
    }
    drop(held);
    assert_eq!(pool.stats()[0].open, 4);
    tokio::time::sleep(Duration::from_millis(2500)).await; // past wait_timeout
    for _ in 0..8 {
        let mut c = pool.get_conn().await.unwrap();
        c.query_drop("DO 1")
            .await
            .expect("no dead connection handed out");
    }
    // And one killed with KILL CONNECTION while idle.
    let mut c = pool.get_conn().await.unwrap();
    let id: u32 = c
        .query_first("SELECT CONNECTION_ID()")
        .await
        .unwrap()
        .unwrap();
    drop(c);
    sb.exec(0, &format!("KILL CONNECTION {id}")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut c = pool.get_conn().await.unwrap();
    let id2: u32 = c
        .query_first("SELECT CONNECTION_ID()")
        .await
        .unwrap()
        .unwrap();
    assert_ne!(id, id2);
}

#[tokio::test]
async fn a_returned_connection_carries_no_session_state_to_the_next_user() {
    let sb = Sandbox::start(1).await.unwrap();
    let pool = LoadBalancedPool::new(opts(&sb, "pool_max=1"));
    let mut c = pool.get_conn().await.unwrap();
    c.query_drop("SET @secret = 42").await.unwrap();
    c.query_drop("CREATE DATABASE IF NOT EXISTS t1")
        .await
        .unwrap();
    c.query_drop("CREATE TABLE IF NOT EXISTS t1.x (id INT PRIMARY KEY)")
        .await
        .unwrap();
    c.query_drop("START TRANSACTION").await.unwrap();
    c.query_drop("INSERT INTO t1.x VALUES (1)").await.unwrap();
    let id: u32 = c
        .query_first("SELECT CONNECTION_ID()")
        .await
        .unwrap()
        .unwrap();
    drop(c); // mid-transaction

    let mut c = pool.get_conn().await.unwrap();
    let id2: u32 = c
        .query_first("SELECT CONNECTION_ID()")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(id, id2, "pool_max=1: the same connection, reset");
    let v: Option<Option<i64>> = c.query_first("SELECT @secret").await.unwrap();
    assert_eq!(v, Some(None), "user variable gone");
    assert!(!c.in_transaction());
    let n: Option<u64> = c.query_first("SELECT COUNT(*) FROM t1.x").await.unwrap();
    assert_eq!(n, Some(0), "the abandoned transaction was rolled back");
}

#[tokio::test]
async fn a_dead_host_is_skipped_at_checkout_at_once() {
    let sb = Sandbox::start(2).await.unwrap();
    sb.kill(0);
    let pool = LoadBalancedPool::new(opts(&sb, "strategy=sequential"));
    let t = Instant::now();
    let mut c = pool.get_conn().await.unwrap();
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!(served_by(&mut c).await.unwrap(), sb.port(1));
    assert!(Blacklist::global().contains(&addr(&sb, 0)));
    assert!(matches!(
        pool.stats()[0].state,
        HostState::Blacklisted { .. }
    ));
}

#[tokio::test]
async fn sigkill_under_load_reaches_no_caller() {
    let sb = Arc::new(Sandbox::start(3).await.unwrap());
    let pool = LoadBalancedPool::new(opts(&sb, "strategy=roundRobin&blacklist_timeout=5s"));
    let errors = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (pool, errors, done, stop) = (pool.clone(), errors.clone(), done.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..2000 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let r = async {
                    let mut c = pool.get_conn().await.map_err(|e| e.to_string())?;
                    served_by(&mut c).await.map_err(|e| e.to_string())
                }
                .await;
                match r {
                    Ok(_) => done.fetch_add(1, Ordering::SeqCst),
                    Err(e) => {
                        eprintln!("caller saw: {e}");
                        errors.fetch_add(1, Ordering::SeqCst)
                    }
                };
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    sb.kill(1);
    let before = done.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(700)).await;
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        tokio::time::timeout(BOUND, t).await.unwrap().unwrap();
    }
    assert_eq!(errors.load(Ordering::SeqCst), 0);
    assert!(
        done.load(Ordering::SeqCst) > before,
        "traffic went on after the kill"
    );
    let s = pool.stats();
    assert!(matches!(s[1].state, HostState::Blacklisted { .. }));
    assert_eq!(s[1].open, 0, "no connection to the dead host is kept");
}

#[tokio::test]
async fn hosts_are_added_and_removed_while_traffic_runs() {
    let sb = Arc::new(Sandbox::start(3).await.unwrap());
    let ports: Vec<u16> = (0..3).map(|i| sb.port(i)).collect();
    let url = common::url_for(&ports[..2], "strategy=roundRobin");
    let pool = LoadBalancedPool::new(url.parse().unwrap());
    let errors = Arc::new(AtomicUsize::new(0));
    let served: Arc<std::sync::Mutex<Vec<(Instant, u16)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (pool, errors, served, stop) =
            (pool.clone(), errors.clone(), served.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..5000 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let mut c = match pool.get_conn().await {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("{e}");
                        errors.fetch_add(1, Ordering::SeqCst);
                        continue;
                    }
                };
                // Hold some connections across the change, inside a transaction.
                c.query_drop("BEGIN").await.unwrap();
                match served_by(&mut c).await {
                    Ok(p) => served.lock().unwrap().push((Instant::now(), p)),
                    Err(e) => {
                        eprintln!("{e}");
                        errors.fetch_add(1, Ordering::SeqCst);
                    }
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
                if c.query_drop("COMMIT").await.is_err() {
                    errors.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    pool.add_host(HostSpec::new("127.0.0.1", ports[2], Role::Any));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(pool.remove_host(&addr(&sb, 0), Duration::from_secs(5)));
    let removed_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        tokio::time::timeout(BOUND, t).await.unwrap().unwrap();
    }
    assert_eq!(errors.load(Ordering::SeqCst), 0);
    let served = served.lock().unwrap().clone();
    assert!(
        served.iter().any(|(_, p)| *p == ports[2]),
        "the added host served"
    );
    // A transaction that began before the removal may end there; nothing after it starts.
    let late = served
        .iter()
        .filter(|(t, p)| *p == ports[0] && *t > removed_at + Duration::from_millis(50))
        .count();
    assert_eq!(late, 0, "the removed host got new work");
    let s = pool.stats();
    assert!(
        s.iter()
            .any(|h| h.addr == addr(&sb, 0) && h.state == HostState::Removed)
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server_conns(&sb, 0).await, 0, "its connections were closed");
}

#[tokio::test]
async fn disconnect_closes_every_connection() {
    let sb = Sandbox::start(2).await.unwrap();
    let pool = LoadBalancedPool::new(opts(&sb, "strategy=roundRobin"));
    let mut held = Vec::new();
    for _ in 0..6 {
        let mut c = pool.get_conn().await.unwrap();
        c.query_drop("DO 1").await.unwrap();
        held.push(c);
    }
    assert_eq!(server_conns(&sb, 0).await + server_conns(&sb, 1).await, 6);
    let busy = held.pop().unwrap();
    drop(held);
    pool.disconnect().await;
    drop(busy); // comes back to a closed pool: closed
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server_conns(&sb, 0).await + server_conns(&sb, 1).await, 0);
    assert!(matches!(pool.get_conn().await, Err(Error::Closed)));

    // Dropping a pool (without disconnect) closes its connections too.
    let pool = LoadBalancedPool::new(opts(&sb, ""));
    let c = pool.get_conn().await.unwrap();
    drop(c);
    drop(pool);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server_conns(&sb, 0).await + server_conns(&sb, 1).await, 0);
}
