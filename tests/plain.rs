//! `Balancer::connect`, the plain `mysql_async::Conn` for other pools, against real MariaDB
//! servers: the bb8 example, a SIGKILLed host, a blackholed host, every host down, and a bb8
//! pool whose connection's server is killed. Each test has its own servers and a balancer
//! with its own blacklist, so nothing is shared between tests.

mod common;

// The example, compiled here as a module: its `main` is not used by the tests.
#[allow(dead_code)]
#[path = "../examples/plain_pool.rs"]
mod plain_pool;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use mysql_async::prelude::Queryable;
use mysql_lb::{Balancer, Blacklist, Error, HostAddr, LbOpts};
use mysql_lb_sandbox::{FaultProxy, ProxyMode, Sandbox};

/// A balancer over `opts` with a blacklist of its own.
fn balancer(opts: LbOpts) -> Arc<Balancer> {
    Balancer::with_blacklist(opts, Arc::new(Blacklist::new()))
}

/// The port of the server a plain connection is on, asked of the server itself.
async fn port_of(conn: &mut mysql_async::Conn) -> u16 {
    let port: Option<u16> = conn.query_first("SELECT @@port").await.unwrap();
    port.expect("one row")
}

#[tokio::test]
async fn the_example_runs_its_statements_on_the_sandbox() {
    let sb = Sandbox::start(3).await.unwrap();
    let ports: Vec<u16> = (0..3).map(|i| sb.port(i)).collect();
    let t = Instant::now();
    let answered = tokio::time::timeout(BOUND, plain_pool::run(&sb.url(), 12))
        .await
        .expect("bounded")
        .expect("the example runs");
    eprintln!("example: 12 statements in {:?}", t.elapsed());
    assert_eq!(answered.len(), 12);
    assert!(
        answered.iter().all(|p| ports.contains(p)),
        "{answered:?} not among {ports:?}"
    );
}

#[tokio::test]
async fn a_killed_host_is_skipped_and_blacklisted() {
    let sb = Sandbox::start(3).await.unwrap();
    // roundRobin, so that the dead host is certainly picked within the first connects
    // (random would miss it 30 times with a chance of (2/3)^30).
    let b = balancer(opts(&sb, "strategy=roundRobin"));
    sb.kill(1);
    let dead = sb.port(1);
    let t = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut seen = [0usize; 3];
    for _ in 0..30 {
        let c = Instant::now();
        let mut conn = tokio::time::timeout(BOUND, b.connect())
            .await
            .expect("bounded")
            .expect("a connection while 2 of 3 hosts are up");
        slowest = slowest.max(c.elapsed());
        let port = port_of(&mut conn).await;
        assert_ne!(port, dead, "a connection to the killed server");
        seen[(0..3).find(|&i| sb.port(i) == port).unwrap()] += 1;
        conn.disconnect().await.unwrap();
    }
    let took = t.elapsed();
    eprintln!("30 connects with one host killed: {took:?}, slowest {slowest:?}, per host {seen:?}");
    assert!(b.blacklist().contains(&addr(&sb, 1)), "the dead host");
    assert!(!b.blacklist().contains(&addr(&sb, 0)));
    assert!(!b.blacklist().contains(&addr(&sb, 2)));
    assert!(
        seen[0] > 0 && seen[2] > 0,
        "both live hosts served: {seen:?}"
    );
    // A refused connect costs no wait: no connect comes near connect_timeout (2 s).
    assert!(
        slowest < Duration::from_secs(1),
        "slowest connect {slowest:?}"
    );
}

#[tokio::test]
async fn a_blackholed_host_costs_a_stagger_delay_not_connect_timeout() {
    let sb = Sandbox::start(3).await.unwrap();
    let proxy = FaultProxy::start(sb.addr(0)).await.unwrap();
    proxy.set_mode(ProxyMode::Blackhole);
    let hung = HostAddr::new("127.0.0.1", proxy.port());
    // sequential: the blackholed host, listed first, is tried first.
    let opts = url_for(
        &[proxy.port(), sb.port(1), sb.port(2)],
        "strategy=sequential&connect_timeout=300ms",
    )
    .parse()
    .unwrap();
    let b = balancer(opts);

    let t = Instant::now();
    let mut conn = tokio::time::timeout(BOUND, b.connect())
        .await
        .expect("bounded")
        .expect("another host takes over");
    let first = t.elapsed();
    eprintln!("connect past a blackholed host: {first:?}");
    assert_eq!(port_of(&mut conn).await, sb.port(1));
    assert!(proxy.connections() >= 1, "the blackholed host was tried");
    // Staggered: the next host starts beside the hung one after the stagger delay (250 ms
    // before any connect time is known) and wins. The hung attempt is dropped, not judged:
    // the host is blacklisted only if its connect_timeout (300 ms) ran out first.
    assert!(
        first >= Duration::from_millis(250) && first < Duration::from_millis(1500),
        "{first:?}: one stagger delay, then the next host's connect"
    );
    eprintln!(
        "blackholed host blacklisted: {}",
        b.blacklist().contains(&hung)
    );
    conn.disconnect().await.unwrap();

    // The next connects either skip it (blacklisted) or race it after a short stagger delay
    // (4 times the connect times seen, at least 50 ms).
    let t = Instant::now();
    for _ in 0..5 {
        let mut conn = b.connect().await.unwrap();
        assert_eq!(port_of(&mut conn).await, sb.port(1));
        conn.disconnect().await.unwrap();
    }
    let next = t.elapsed();
    eprintln!("5 more connects: {next:?}");
    assert!(next < Duration::from_millis(1000), "{next:?}");
}

#[tokio::test]
async fn all_hosts_down_lists_every_host() {
    let sb = Sandbox::start(3).await.unwrap();
    let b = balancer(opts(&sb, ""));
    let hosts: Vec<HostAddr> = (0..3).map(|i| addr(&sb, i)).collect();
    for i in 0..3 {
        sb.kill(i);
    }
    // The first call meets three unlisted dead hosts, the second three blacklisted ones
    // (tried anyway, soonest-expiring first): both list every host.
    for call in ["first", "second"] {
        let t = Instant::now();
        let r = tokio::time::timeout(BOUND, b.connect())
            .await
            .expect("bounded");
        eprintln!("{call} connect with all hosts down: {:?}", t.elapsed());
        let Err(Error::AllHostsFailed(failures)) = r else {
            panic!("{call} call: {r:?}")
        };
        let listed: Vec<&HostAddr> = failures.0.iter().map(|(h, _)| h).collect();
        assert_eq!(listed.len(), 3, "{call} call: {failures}");
        for h in &hosts {
            assert!(
                listed.contains(&h),
                "{call} call: {h} missing from {failures}"
            );
        }
        let message = Error::AllHostsFailed(failures).to_string();
        for h in &hosts {
            assert!(message.contains(&h.to_string()), "{message}");
        }
        for h in &hosts {
            assert!(b.blacklist().contains(h));
        }
    }
}

#[tokio::test]
async fn a_bb8_checkout_after_its_server_is_killed_gets_another_server() {
    let sb = Sandbox::start(3).await.unwrap();
    // sequential: every new connection goes to the first host that works, so the replacement
    // connection has to go through the killed host (refused, blacklisted) to the next one.
    let b = balancer(opts(&sb, "strategy=sequential"));
    let pool = plain_pool::pool(b.clone(), 1).await.unwrap();

    let first = {
        let mut conn = pool.get().await.unwrap();
        port_of(&mut conn).await
    };
    assert_eq!(first, sb.port(0));
    // The same pooled connection comes back while its server lives.
    let again = {
        let mut conn = pool.get().await.unwrap();
        port_of(&mut conn).await
    };
    assert_eq!(again, first);

    sb.kill(0);
    let t = Instant::now();
    let mut conn = tokio::time::timeout(BOUND, pool.get())
        .await
        .expect("bounded")
        .expect("a checkout after the kill");
    let took = t.elapsed();
    let now_on = port_of(&mut conn).await;
    eprintln!("checkout after the kill: {took:?}, now on {now_on}");
    assert_ne!(now_on, first, "the dead server's connection was handed out");
    assert_eq!(now_on, sb.port(1));
    assert!(b.blacklist().contains(&addr(&sb, 0)));
    assert!(took < Duration::from_secs(2), "{took:?}");
    drop(conn);

    // And the pool keeps serving from the live servers.
    for _ in 0..5 {
        let mut conn = pool.get().await.unwrap();
        assert_eq!(port_of(&mut conn).await, sb.port(1));
    }
}

#[tokio::test]
async fn a_bb8_checkout_after_its_host_hangs_costs_a_ping_and_a_stagger_delay() {
    let sb = Sandbox::start(2).await.unwrap();
    let proxy = FaultProxy::start(sb.addr(0)).await.unwrap();
    let hung = HostAddr::new("127.0.0.1", proxy.port());
    let opts = url_for(
        &[proxy.port(), sb.port(1)],
        "strategy=sequential&connect_timeout=300ms&ping_timeout=200ms",
    )
    .parse()
    .unwrap();
    let b = balancer(opts);
    let pool = plain_pool::pool(b.clone(), 1).await.unwrap();
    {
        let mut conn = pool.get().await.unwrap();
        assert_eq!(port_of(&mut conn).await, sb.port(0), "through the proxy");
    }

    proxy.set_mode(ProxyMode::Blackhole);
    let t = Instant::now();
    let mut conn = tokio::time::timeout(BOUND, pool.get())
        .await
        .expect("bounded")
        .expect("a checkout after the host hung");
    let took = t.elapsed();
    eprintln!("checkout after the host hung: {took:?}");
    assert_eq!(port_of(&mut conn).await, sb.port(1));
    // The failed ping (200 ms) only starts a check of the host in the background, so the
    // replacement connect tries the hung host again; the next host starts beside it after the
    // stagger delay (4 times the connect time seen through the proxy, at least 50 ms) and
    // wins.
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_millis(2000),
        "{took:?}"
    );
    // The background check's connect fails too (connect_timeout, 300 ms): blacklisted.
    let until = Instant::now() + Duration::from_secs(3);
    while !b.blacklist().contains(&hung) && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(b.blacklist().contains(&hung));
}
