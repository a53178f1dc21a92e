//! Staggered connects against real MariaDB servers: with the first host in the strategy's
//! order stopped (SIGSTOP: the kernel still completes the TCP handshake, and then nothing
//! answers), a connect starts on the next host after a short delay instead of waiting the
//! whole `connect_timeout`, for each way of connecting: `LoadBalancedConnection`,
//! `Balancer::connect` (a plain `Conn`) and a `LoadBalancedPool` checkout.

mod common;

use std::time::{Duration, Instant};

use common::{BOUND, addr, opts, served_by};
use mysql_async::prelude::Queryable;
use mysql_lb::{Balancer, Blacklist, LoadBalancedConnection, LoadBalancedPool};
use mysql_lb_sandbox::Sandbox;

/// Well under `connect_timeout` (2 s).
const FAST: Duration = Duration::from_secs(1);

#[tokio::test]
async fn a_stopped_first_host_costs_a_stagger_delay_not_connect_timeout() {
    let sb = Sandbox::start(3).await.unwrap();
    // Sequential: host 0 is the first choice every time.
    let opts = opts(&sb, "strategy=sequential&connect_timeout=2s");
    sb.pause(0);

    // A load-balanced connection.
    let t = Instant::now();
    let mut conn = tokio::time::timeout(BOUND, LoadBalancedConnection::connect(opts.clone()))
        .await
        .unwrap()
        .unwrap();
    let took = t.elapsed();
    println!("LoadBalancedConnection::connect with host 0 stopped: {took:?}");
    assert_ne!(served_by(&mut conn).await.unwrap(), sb.port(0));
    assert!(took < FAST, "LoadBalancedConnection::connect took {took:?}");
    conn.disconnect().await;

    // A plain connection from the balancer.
    let balancer = Balancer::new(opts.clone());
    let t = Instant::now();
    let mut plain = tokio::time::timeout(BOUND, balancer.connect())
        .await
        .unwrap()
        .unwrap();
    let took = t.elapsed();
    println!("Balancer::connect with host 0 stopped: {took:?}");
    let port: u16 = plain.query_first("SELECT @@port").await.unwrap().unwrap();
    assert_ne!(port, sb.port(0));
    assert!(took < FAST, "Balancer::connect took {took:?}");
    plain.disconnect().await.unwrap();

    // A pool checkout, the stopped host first.
    let pool = LoadBalancedPool::new(opts.clone());
    let t = Instant::now();
    let mut pooled = tokio::time::timeout(BOUND, pool.get_conn())
        .await
        .unwrap()
        .unwrap();
    let took = t.elapsed();
    println!("LoadBalancedPool::get_conn with host 0 stopped: {took:?}");
    assert_ne!(served_by(&mut pooled).await.unwrap(), sb.port(0));
    assert!(took < FAST, "LoadBalancedPool::get_conn took {took:?}");
    drop(pooled);
    pool.disconnect().await;

    // The stopped host lost only dropped attempts, which count as neither success nor
    // failure: nothing blacklisted it.
    assert!(!Blacklist::global().contains(&addr(&sb, 0)));
    sb.resume(0);
}
