//! Hedged reads against real servers: a SIGSTOPped host costs a read at most about the hedge
//! delay's cap; writes, transactions and pinned sessions are never hedged; a healthy run
//! hedges almost nothing.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{addr, on_all, opts};
use mysql_async::prelude::Queryable;
use mysql_lb::{Balancer, Blacklist, DataOutcome, Error, LoadBalancedConnection, LoadBalancedPool};
use mysql_lb_sandbox::Sandbox;

/// Runs `tasks` handles reading for `run`, pausing server `pause` (if any) from 0.5 s for
/// 1.5 s; returns (statements, errors, worst latency).
async fn reads(
    sb: &Sandbox,
    balancer: Arc<Balancer>,
    tasks: usize,
    run: Duration,
    pause: Option<usize>,
) -> (u64, Vec<String>, Duration) {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..tasks {
        let b = balancer.clone();
        set.spawn(async move {
            let mut c = LoadBalancedConnection::connect_with(b).await.unwrap();
            let (mut n, mut errors, mut worst) = (0u64, Vec::new(), Duration::ZERO);
            let end = Instant::now() + run;
            while Instant::now() < end {
                let t = Instant::now();
                match c.query_drop("SELECT 1").await {
                    Ok(()) => n += 1,
                    Err(e) => errors.push(e.to_string()),
                }
                worst = worst.max(t.elapsed());
            }
            (n, errors, worst)
        });
    }
    if let Some(i) = pause {
        tokio::time::sleep(Duration::from_millis(500)).await;
        sb.pause(i);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        sb.resume(i);
    }
    let (mut total, mut errors, mut worst) = (0, Vec::new(), Duration::ZERO);
    while let Some(r) = set.join_next().await {
        let (n, e, w) = r.unwrap();
        total += n;
        errors.extend(e);
        worst = worst.max(w);
    }
    (total, errors, worst)
}

fn balancer(sb: &Sandbox, extra: &str) -> Arc<Balancer> {
    Balancer::with_blacklist(
        opts(
            sb,
            &format!("strategy=roundRobin&socket_timeout=10s{extra}"),
        ),
        Arc::new(Blacklist::new()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_host_costs_reads_a_hedge_not_a_timeout() {
    let sb = Sandbox::start(3).await.unwrap();
    let b = balancer(&sb, "");
    let mut events = mysql_lb::subscribe();
    let (n, errors, worst) = reads(&sb, b.clone(), 6, Duration::from_secs(3), Some(0)).await;
    let (sent, won) = b.hedges();
    println!("{n} reads, worst {worst:?}, {sent} hedges ({won} won), errors {errors:?}");
    assert!(errors.is_empty(), "{errors:?}");
    assert!(won >= 1, "the paused host's reads were answered elsewhere");
    // The cap is 80 ms; the rest is a new connection elsewhere and a loaded 2-core machine.
    assert!(
        worst < Duration::from_millis(800),
        "worst read {worst:?} (socket_timeout is 10 s)"
    );
    // The host that lost a hedge was a suspect (blacklisted) until a probe got an answer,
    // after the pause.
    let mut suspect = false;
    while let Ok(e) = events.try_recv() {
        if let mysql_lb::EventKind::HostBlacklisted { host, reason, .. } = &e.kind
            && host == &addr(&sb, 0)
        {
            assert!(reason.contains("another host answered first"), "{reason}");
            suspect = true;
        }
    }
    assert!(suspect, "host 0 was blacklisted after losing a hedge");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_handle_hedges_too() {
    let sb = Sandbox::start(3).await.unwrap();
    let pool = LoadBalancedPool::with_balancer(balancer(&sb, ""));
    let mut c = pool.get_conn().await.unwrap();
    let port: u16 = c.query_first("SELECT @@port").await.unwrap().unwrap();
    let i = (0..3).find(|&i| sb.port(i) == port).unwrap();
    sb.pause(i);
    let t = Instant::now();
    let other: u16 = c.query_first("SELECT @@port").await.unwrap().unwrap();
    let took = t.elapsed();
    sb.resume(i);
    assert_ne!(other, port, "answered by another host");
    assert!(took < Duration::from_millis(800), "{took:?}");
    drop(c);
    pool.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_transactions_and_pinned_sessions_are_never_hedged() {
    let sb = Sandbox::start(2).await.unwrap();
    on_all(&sb, "CREATE DATABASE IF NOT EXISTS test").await;
    on_all(
        &sb,
        "CREATE TABLE test.t (id INT AUTO_INCREMENT PRIMARY KEY)",
    )
    .await;
    let b = Balancer::with_blacklist(
        opts(&sb, "strategy=sequential&socket_timeout=600ms"),
        Arc::new(Blacklist::new()),
    );
    let mut c = LoadBalancedConnection::connect_with(b.clone())
        .await
        .unwrap();
    // A kept connection to the other host, so a hedge would have somewhere to go.
    c.query_drop("SELECT 1").await.unwrap();
    sb.pause(0);
    let t = Instant::now();
    let err = c
        .query_drop("INSERT INTO test.t () VALUES ()")
        .await
        .unwrap_err();
    assert!(
        t.elapsed() >= Duration::from_millis(600),
        "waited for socket_timeout"
    );
    assert_eq!(Error::outcome(&err), DataOutcome::Unknown, "{err}");
    sb.resume(0);

    // In a transaction a read is not hedged either: the transaction is lost, not moved.
    let mut c = LoadBalancedConnection::connect_with(b.clone())
        .await
        .unwrap();
    c.query_drop("BEGIN").await.unwrap();
    let on: u16 = c.query_first("SELECT @@port").await.unwrap().unwrap();
    let i = (0..2).find(|&i| sb.port(i) == on).unwrap();
    sb.pause(i);
    let err = c.query_drop("SELECT 1").await.unwrap_err();
    sb.resume(i);
    assert!(
        matches!(Error::from_mysql(&err), Some(Error::TransactionLost { .. })) || {
            // The read itself times out; the loss is reported at the next statement.
            let next = c.query_drop("SELECT 1").await.unwrap_err();
            matches!(
                Error::from_mysql(&next),
                Some(Error::TransactionLost { .. })
            )
        },
        "{err}"
    );
    let (sent, _) = b.hedges();
    assert_eq!(sent, 0, "nothing was hedged");
    // The insert was sent to host 0 only, and never to host 1.
    let on_1: Vec<mysql_async::Row> = sb.sql(1, "SELECT id FROM test.t").await.unwrap();
    assert!(on_1.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_run_hedges_almost_nothing() {
    let sb = Sandbox::start(3).await.unwrap();
    let b = balancer(&sb, "");
    let (n, errors, _) = reads(&sb, b.clone(), 4, Duration::from_secs(2), None).await;
    let (sent, _) = b.hedges();
    println!("{n} reads, {sent} hedges");
    assert!(errors.is_empty());
    // The budget: 5 % plus 10 a second at most; in practice far fewer.
    assert!(
        (sent as f64) <= n as f64 * 0.05 + 25.0,
        "{sent} hedges of {n}"
    );
}
