//! A host that comes back gets its share again, from long-lived handles too, without
//! `autocommit_threshold` (the default, 0): real servers behind fault proxies, one proxy
//! resetting every connection until the host is blacklisted, then healthy again.

mod common;

use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_lb::{Balancer, Blacklist, LbOpts, LoadBalancedConnection};
use mysql_lb_sandbox::{FaultProxy, PASSWORD, ProxyMode, Sandbox, USER};
use tokio::time::{Instant, timeout};

/// Runs `SELECT 1` on every handle in turn for `dur` and counts the statements per host
/// (index into `ports`). Every statement is bounded.
async fn run(handles: &mut [LoadBalancedConnection], ports: &[u16], dur: Duration) -> Vec<usize> {
    let mut per = vec![0; ports.len()];
    let end = Instant::now() + dur;
    while Instant::now() < end {
        for h in handles.iter_mut() {
            timeout(Duration::from_secs(5), h.query_drop("SELECT 1"))
                .await
                .expect("bounded")
                .expect("reads never fail here");
            let port = h.current_host().expect("connected").port();
            if let Some(i) = ports.iter().position(|&p| p == port) {
                per[i] += 1;
            }
        }
    }
    per
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_lived_handles_come_back_to_a_host_that_recovered_without_a_threshold() {
    let sb = Sandbox::start(3).await.expect("sandbox");
    let mut proxies = Vec::new();
    for i in 0..3 {
        proxies.push(FaultProxy::start(sb.addr(i)).await.expect("proxy"));
    }
    let ports: Vec<u16> = proxies.iter().map(FaultProxy::port).collect();
    let hosts: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let url = format!(
        "mysql://{USER}:{PASSWORD}@{}/?strategy=roundRobin&blacklist_timeout=1s&slow_start=1s&hedge=false",
        hosts.join(",")
    );
    let opts: LbOpts = url.parse().expect("URL");
    let balancer = Balancer::with_blacklist(opts, Arc::new(Blacklist::new()));
    let mut handles = Vec::new();
    for _ in 0..9 {
        handles.push(
            LoadBalancedConnection::connect_with(balancer.clone())
                .await
                .expect("connect"),
        );
    }

    // Host 0 resets everything: its handles fail over, and it is blacklisted.
    proxies[0].set_mode(ProxyMode::Reset);
    let down = run(&mut handles, &ports, Duration::from_millis(1500)).await;
    assert!(down[0] < 20, "host 0 is down: {down:?}");
    proxies[0].set_mode(ProxyMode::Pass);

    // Healthy again: within its blacklist entry (≤ 1 s) and its slow start (1 s), handles
    // that never rebalance on their own come back to it.
    let _ = run(&mut handles, &ports, Duration::from_millis(2500)).await;
    let after = run(&mut handles, &ports, Duration::from_millis(1500)).await;
    let total: usize = after.iter().sum();
    let share = after[0] as f64 / total as f64 * 3.0;
    eprintln!("statements per host while resetting: {down:?}; after its return: {after:?}");
    assert!(
        share > 0.6,
        "host 0 back to {share:.2}× its fair share: {after:?} (before the fault it had a third)"
    );
    for h in handles {
        h.disconnect().await;
    }
}
