//! `mysql+srv://` connection strings (feature `srv`) against a real DNS server started here
//! (`common/dns.rs`, hickory-server on 127.0.0.1) and real MariaDB servers: the records'
//! hosts are reached, priorities order failover, and a pool follows a record set that changes
//! mid-run. Parse-level cases are in `fixtures/urls/srv_valid.json` and `srv_invalid.json`.

mod common;

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use common::dns::{DnsServer, SRV_NAME, srv};
use common::served_by;
use mysql_lb::{
    Error, HostAddr, HostSpec, HostState, LbOpts, LoadBalancedConnection, LoadBalancedPool, Role,
};
use mysql_lb_sandbox::{PASSWORD, Sandbox, USER};
use serde_json::Value;
use tokio::time::Instant;

fn url(scheme: &str, dns: &DnsServer, options: &str) -> String {
    format!(
        "{scheme}://{USER}:{PASSWORD}@{SRV_NAME}/?dns_servers={}&{options}",
        dns.addr()
    )
}

/// Server `i` as a host of the pool: with `dns_servers` the targets are looked up there, and
/// `h{i}.test.` is 127.0.0.1.
fn host(_i: usize, port: u16) -> HostSpec {
    HostSpec::new("127.0.0.1", port, Role::Any)
}

/// The ports that serve `n` checkouts in a row.
async fn ports_serving(pool: &LoadBalancedPool, n: usize) -> HashSet<u16> {
    let mut seen = HashSet::new();
    for _ in 0..n {
        let mut c = pool.get_conn().await.expect("a checkout");
        seen.insert(served_by(&mut c).await.expect("a query"));
    }
    seen
}

#[tokio::test]
async fn a_srv_url_reaches_the_servers_its_records_name() {
    let (sb, dns) = tokio::join!(Sandbox::start(3), DnsServer::start());
    let sb = sb.unwrap();
    let records: Vec<_> = (0..3).map(|i| srv(0, 10, sb.port(i), i)).collect();
    dns.set_srv(&records).await;

    let opts: LbOpts = url("mysql+srv", &dns, "strategy=roundRobin")
        .parse()
        .unwrap();
    assert_eq!(opts.srv_name(), Some(SRV_NAME));
    assert!(opts.hosts().is_empty(), "hosts come from DNS");

    let resolved = opts.resolve().await.unwrap();
    let hosts: HashSet<HostAddr> = resolved.hosts().iter().map(|h| h.addr.clone()).collect();
    let wanted: HashSet<HostAddr> = (0..3).map(|i| host(i, sb.port(i)).addr).collect();
    assert_eq!(hosts, wanted);

    let started = Instant::now();
    let pool = LoadBalancedPool::connect(opts.clone()).await.unwrap();
    eprintln!("pool with SRV lookup ready in {:?}", started.elapsed());
    let all: HashSet<u16> = (0..3).map(|i| sb.port(i)).collect();
    assert_eq!(ports_serving(&pool, 12).await, all);
    pool.disconnect().await;

    // A single connection resolves too; a pool made with `new` at its first checkout.
    let mut conn = LoadBalancedConnection::connect(opts.clone()).await.unwrap();
    assert!(all.contains(&served_by(&mut conn).await.unwrap()));
    let lazy = LoadBalancedPool::new(opts);
    assert!(lazy.hosts().is_empty());
    assert_eq!(ports_serving(&lazy, 3).await, all);
    assert_eq!(lazy.hosts().len(), 3);
    lazy.disconnect().await;
    dns.stop().await;
}

#[tokio::test]
async fn failover_follows_priorities_and_moves_on_when_the_first_dies() {
    let (sb, dns) = tokio::join!(Sandbox::start(3), DnsServer::start());
    let sb = sb.unwrap();
    // Listed out of order: the priorities decide.
    dns.set_srv(&[
        srv(20, 10, sb.port(2), 2),
        srv(0, 10, sb.port(0), 0),
        srv(10, 10, sb.port(1), 1),
    ])
    .await;
    let opts: LbOpts = url("jdbc:mysql+srv", &dns, "").parse().unwrap();
    let pool = LoadBalancedPool::connect(opts).await.unwrap();
    assert_eq!(
        pool.hosts(),
        vec![
            host(0, sb.port(0)),
            host(1, sb.port(1)),
            host(2, sb.port(2))
        ]
    );
    assert_eq!(ports_serving(&pool, 5).await, HashSet::from([sb.port(0)]));

    sb.kill(0);
    let started = Instant::now();
    let after: HashSet<u16> = tokio::time::timeout(common::BOUND, async {
        let mut seen = HashSet::new();
        // The first checkouts may meet the dead host's idle connection: a failed read is
        // retried elsewhere, so each still answers.
        for _ in 0..5 {
            let mut c = pool.get_conn().await.expect("a checkout");
            seen.insert(served_by(&mut c).await.expect("a query"));
        }
        seen
    })
    .await
    .expect("bounded");
    eprintln!("failover to priority 10 within {:?}", started.elapsed());
    assert_eq!(after, HashSet::from([sb.port(1)]));
    pool.disconnect().await;
    dns.stop().await;
}

#[tokio::test]
async fn a_changed_record_set_moves_traffic_within_the_refresh_interval() {
    let (sb, dns) = tokio::join!(Sandbox::start(3), DnsServer::start());
    let sb = sb.unwrap();
    dns.set_srv(&[srv(0, 10, sb.port(0), 0), srv(0, 10, sb.port(1), 1)])
        .await;
    let refresh = Duration::from_millis(200);
    let opts: LbOpts = url(
        "mysql+srv",
        &dns,
        "strategy=roundRobin&srv_refresh=200ms&slow_start=0",
    )
    .parse()
    .unwrap();
    let pool = LoadBalancedPool::connect(opts).await.unwrap();
    assert_eq!(
        ports_serving(&pool, 6).await,
        HashSet::from([sb.port(0), sb.port(1)])
    );

    // Server 0 leaves the records, server 2 joins; the application calls nothing.
    let mut events = mysql_lb::subscribe();
    dns.set_srv(&[srv(0, 10, sb.port(1), 1), srv(0, 10, sb.port(2), 2)])
        .await;
    let changed = Instant::now();
    let wanted: HashSet<HostAddr> = [host(1, sb.port(1)).addr, host(2, sb.port(2)).addr].into();
    let addrs = |pool: &LoadBalancedPool| -> HashSet<HostAddr> {
        pool.hosts().into_iter().map(|h| h.addr).collect()
    };
    loop {
        let now = addrs(&pool);
        if now == wanted {
            break;
        }
        // Bounded for a loaded machine; the time it took is printed below.
        assert!(
            changed.elapsed() < refresh * 25,
            "hosts did not follow the records within 25 refresh intervals: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = changed.elapsed();
    eprintln!("host list followed the records in {took:?} (srv_refresh {refresh:?})");
    assert_eq!(
        ports_serving(&pool, 6).await,
        HashSet::from([sb.port(1), sb.port(2)])
    );
    let removed = pool
        .stats()
        .into_iter()
        .find(|s| s.addr == host(0, sb.port(0)).addr)
        .expect("the removed host is still shown while it drains");
    assert_eq!(removed.state, HostState::Removed, "{removed:?}");
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        match e.kind {
            mysql_lb::EventKind::HostDiscovered { host } if host.port() == sb.port(2) => {
                seen.push("found 2")
            }
            mysql_lb::EventKind::HostDropped { host } if host.port() == sb.port(0) => {
                seen.push("dropped 0")
            }
            _ => {}
        }
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        ["dropped 0", "found 2"],
        "the events say which hosts came and went"
    );

    // A failed re-read keeps the last good list.
    dns.set_srv(&[]).await;
    tokio::time::sleep(refresh * 3).await;
    assert_eq!(
        addrs(&pool),
        wanted,
        "a lookup that finds nothing keeps the hosts"
    );
    pool.disconnect().await;
    dns.stop().await;
}

#[tokio::test]
async fn a_first_lookup_that_fails_fails_creation_within_its_bound() {
    let dns = DnsServer::start().await;
    // No SRV record at all.
    let opts: LbOpts = url("mysql+srv", &dns, "").parse().unwrap();
    match LoadBalancedPool::connect(opts.clone()).await {
        Err(Error::Srv { name, reason }) => {
            assert_eq!(name, SRV_NAME);
            eprintln!("no records: {reason}");
        }
        other => panic!("expected Error::Srv, got {other:?}"),
    }
    assert!(matches!(
        LoadBalancedConnection::connect(opts).await,
        Err(Error::Srv { .. })
    ));
    dns.stop().await;

    // Nobody answers on this port: bounded by connect_timeout.
    let silent = mysql_lb_sandbox::fresh_port().unwrap();
    let opts: LbOpts = format!(
        "mysql+srv://{USER}@{SRV_NAME}/?dns_servers=127.0.0.1:{silent}&connect_timeout=500ms"
    )
    .parse()
    .unwrap();
    let started = Instant::now();
    let err = opts.resolve().await.unwrap_err();
    let took = started.elapsed();
    eprintln!("dead DNS server: {err} after {took:?}");
    assert!(matches!(err, Error::Srv { .. }), "{err:?}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert!(!err.to_string().contains(PASSWORD));
}

fn load(name: &str) -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/urls")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str::<Vec<Value>>(&text).unwrap()
}

#[test]
fn srv_url_fixtures() {
    let mut failures = Vec::new();
    for case in load("srv_valid.json") {
        let (name, url) = (&case["name"], case["url"].as_str().unwrap());
        match url.parse::<LbOpts>() {
            Ok(opts) => {
                let json = opts.to_json();
                for (field, want) in case["expect"].as_object().unwrap() {
                    if json.get(field) != Some(want) {
                        failures.push(format!(
                            "{name}: `{field}` is {:?}, expected {want}",
                            json.get(field)
                        ));
                    }
                }
                if format!("{opts:?}{json}").contains("Srv-Secret9") {
                    failures.push(format!("{name}: the password shows"));
                }
            }
            Err(e) => failures.push(format!("{name}: {url:?} should parse, got {e:?}")),
        }
    }
    for case in load("srv_invalid.json") {
        let (name, url) = (&case["name"], case["url"].as_str().unwrap());
        match url.parse::<LbOpts>() {
            Ok(_) => failures.push(format!("{name}: {url:?} should fail")),
            Err(e) => {
                let kind = format!("{:?}", e.kind());
                if kind != case["kind"].as_str().unwrap()
                    || !e.part().contains(case["part"].as_str().unwrap())
                    || !e
                        .to_string()
                        .contains(case["message"].as_str().unwrap_or(""))
                    || e.to_string().contains("Srv-Secret9")
                {
                    failures.push(format!("{name}: got {kind} {:?}: {e}", e.part()));
                }
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
