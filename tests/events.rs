//! Events on the process-wide bus against real servers: a SIGKILL (HostBlacklisted,
//! Failover), the host back (HostBack), a lagging replica and its catching up, a promotion
//! (RolesChanged), and an exhausted pool (PoolExhausted).
//!
//! Every receiver sees every test's events (one bus for the process): each test keeps only
//! the events about its own sandbox's ports. Every wait is bounded.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;
use mysql_async::prelude::Queryable;
use mysql_lb::{
    Balancer, Error, Event, EventKind, LbOpts, LoadBalancedConnection, LoadBalancedPool,
    ReplicationPool,
};
use mysql_lb_sandbox::Sandbox;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

/// How long a test waits for one event.
const WAIT: Duration = Duration::from_secs(10);

/// The first event from now that `wanted` accepts, within [`WAIT`]; panics with what was
/// seen of the test's own events (those `ours` accepts) otherwise.
async fn wait_for(
    rx: &mut Receiver<Event>,
    what: &str,
    ours: impl Fn(&EventKind) -> bool,
    wanted: impl Fn(&EventKind) -> bool,
) -> Event {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(e)) if wanted(&e.kind) => return e,
            Ok(Ok(e)) => {
                if ours(&e.kind) {
                    seen.push(e.to_string());
                }
            }
            Ok(Err(RecvError::Lagged(n))) => seen.push(format!("(lagged: {n} missed)")),
            Ok(Err(RecvError::Closed)) => panic!("the bus closed"),
            Err(_) => panic!("no {what} within {WAIT:?}; saw {seen:#?}"),
        }
    }
}

/// Whether the event is about one of `ports` (events without a host are nobody's).
fn about(ports: &[u16]) -> impl Fn(&EventKind) -> bool + '_ {
    move |k| {
        let mine = |h: &mysql_lb::HostAddr| ports.contains(&h.port());
        match k {
            EventKind::HostBlacklisted { host, .. }
            | EventKind::HostBack { host }
            | EventKind::ReplicaLagging { host, .. }
            | EventKind::ReplicaCaughtUp { host } => mine(host),
            EventKind::Failover { from, to, .. } => mine(from) || mine(to),
            EventKind::RolesChanged { writers, readers } => writers.iter().chain(readers).any(mine),
            _ => false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_blacklists_and_fails_over_and_a_check_brings_the_host_back() {
    let sb = Arc::new(Sandbox::start(2).await.unwrap());
    let ports = [sb.port(0), sb.port(1)];
    let (dead, live) = (addr(&sb, 0), addr(&sb, 1));
    let mut rx = mysql_lb::subscribe();
    let opts = opts(&sb, "strategy=sequential&blacklist_timeout=60s");
    let mut conn = LoadBalancedConnection::connect(opts.clone()).await.unwrap();
    assert_eq!(served_by(&mut conn).await.unwrap(), sb.port(0));

    let stop = Arc::new(AtomicBool::new(false));
    let reads = tokio::spawn({
        let stop = stop.clone();
        async move {
            let mut errors = 0;
            while !stop.load(Ordering::SeqCst) {
                if conn.query_drop("SELECT 1").await.is_err() {
                    errors += 1;
                }
            }
            conn.disconnect().await;
            errors
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t = Instant::now();
    sb.kill(0);

    // Either order: the blacklisting comes from a connect that fails in the background.
    let mine = about(&ports);
    let got = wait_for_all(
        &mut rx,
        &mine,
        &[
            (
                "Failover",
                &|k| matches!(k, EventKind::Failover { from, .. } if *from == dead),
            ),
            (
                "HostBlacklisted",
                &|k| matches!(k, EventKind::HostBlacklisted { host, .. } if *host == dead),
            ),
        ],
    )
    .await;
    println!("after {:?}: {} / {}", t.elapsed(), got[0], got[1]);
    let EventKind::Failover { to, reason, .. } = &got[0].kind else {
        unreachable!()
    };
    assert_eq!(*to, live, "{}", got[0]);
    assert!(!reason.is_empty(), "{}", got[0]);
    let EventKind::HostBlacklisted {
        timeout, reason, ..
    } = &got[1].kind
    else {
        unreachable!()
    };
    assert_eq!(*timeout, Duration::from_secs(60), "{}", got[1]);
    assert!(!reason.is_empty(), "{}", got[1]);

    stop.store(true, Ordering::SeqCst);
    let errors = tokio::time::timeout(BOUND, reads).await.unwrap().unwrap();
    assert_eq!(errors, 0, "reads are retried on the other host");

    // Back up: a check of the host takes it off the list.
    let mut rx = mysql_lb::subscribe();
    sb.restart(0).await.unwrap();
    let balancer = Balancer::new(opts);
    balancer.check_host(&dead).await.unwrap();
    let e = wait_for(
        &mut rx,
        "HostBack",
        &mine,
        |k| matches!(k, EventKind::HostBack { host } if *host == dead),
    )
    .await;
    println!("{e}");
    assert!(!mysql_lb::Blacklist::global().contains(&dead));
}

type Wanted<'a> = (&'a str, &'a dyn Fn(&EventKind) -> bool);

/// The first event each of `wanted` accepts, in any order, all within [`WAIT`].
async fn wait_for_all(
    rx: &mut Receiver<Event>,
    ours: impl Fn(&EventKind) -> bool,
    wanted: &[Wanted<'_>],
) -> Vec<Event> {
    let deadline = Instant::now() + WAIT;
    let mut got: Vec<Option<Event>> = vec![None; wanted.len()];
    let mut seen = Vec::new();
    while got.iter().any(Option::is_none) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(e)) => {
                if ours(&e.kind) {
                    seen.push(e.to_string());
                }
                if let Some(i) =
                    (0..wanted.len()).find(|&i| got[i].is_none() && wanted[i].1(&e.kind))
                {
                    got[i] = Some(e);
                }
            }
            Ok(Err(RecvError::Lagged(n))) => seen.push(format!("(lagged: {n} missed)")),
            Ok(Err(RecvError::Closed)) => panic!("the bus closed"),
            Err(_) => {
                let missing: Vec<&str> = (0..wanted.len())
                    .filter(|&i| got[i].is_none())
                    .map(|i| wanted[i].0)
                    .collect();
                panic!("no {missing:?} within {WAIT:?}; saw {seen:#?}")
            }
        }
    }
    got.into_iter().map(Option::unwrap).collect()
}

fn repl_opts(sb: &Sandbox, options: &str) -> LbOpts {
    format!("{}?{options}", sb.replication_url())
        .parse()
        .expect("replication URL parses")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_replica_catching_up_and_a_promotion() {
    let sb = Sandbox::start_replication(2).await.unwrap();
    let ports: Vec<u16> = (0..sb.len()).map(|i| sb.port(i)).collect();
    let mine = about(&ports);
    sb.exec(0, "CREATE DATABASE app").await.unwrap();
    sb.exec(0, "CREATE TABLE app.ev (id INT PRIMARY KEY)")
        .await
        .unwrap();
    for i in 1..sb.len() {
        sb.wait_caught_up(i, BOUND).await.unwrap();
    }
    let mut rx = mysql_lb::subscribe();
    let pool = ReplicationPool::new(repl_opts(
        &sb,
        "max_replication_lag=1s&health_check_interval=200ms",
    ))
    .await
    .unwrap();
    let replica = addr(&sb, 1);

    // Replica 1 stops applying while the source keeps writing.
    sb.stop_replica_sql(1).await.unwrap();
    let t = Instant::now();
    let writes = tokio::spawn({
        let source = sb.opts(0);
        async move {
            let mut c = mysql_async::Conn::new(source).await.unwrap();
            for n in 0..15 {
                c.query_drop(format!("INSERT INTO app.ev VALUES ({n})"))
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            c.disconnect().await.unwrap();
        }
    });
    let e = wait_for(
        &mut rx,
        "ReplicaLagging",
        &mine,
        |k| matches!(k, EventKind::ReplicaLagging { host, .. } if *host == replica),
    )
    .await;
    println!("{e} ({:?} after stopping it)", t.elapsed());
    tokio::time::timeout(BOUND, writes).await.unwrap().unwrap();

    sb.start_replica_sql(1).await.unwrap();
    let t = Instant::now();
    let e = wait_for(
        &mut rx,
        "ReplicaCaughtUp",
        &mine,
        |k| matches!(k, EventKind::ReplicaCaughtUp { host } if *host == replica),
    )
    .await;
    println!("{e} ({:?} after starting it)", t.elapsed());

    // Fail over by hand: 1 becomes the source, 0 and 2 its replicas.
    sb.wait_caught_up(1, BOUND).await.unwrap();
    sb.exec(0, "SET GLOBAL read_only = 1").await.unwrap();
    sb.promote(1).await.unwrap();
    sb.demote(0, 1).await.unwrap();
    sb.demote(2, 1).await.unwrap();
    let t = Instant::now();
    let e = wait_for(
        &mut rx,
        "RolesChanged",
        &mine,
        |k| matches!(k, EventKind::RolesChanged { writers, .. } if *writers == [replica.clone()]),
    )
    .await;
    println!("{e} ({:?} after the promotion)", t.elapsed());
    let EventKind::RolesChanged { readers, .. } = &e.kind else {
        unreachable!()
    };
    assert!(!readers.contains(&replica), "{e}");
    pool.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_that_times_out_is_a_pool_exhausted_event() {
    let sb = Sandbox::start(1).await.unwrap();
    let mut rx = mysql_lb::subscribe();
    let pool = LoadBalancedPool::new(opts(&sb, "pool_max=1&acquire_timeout=200ms"));
    let mut held = pool.get_conn().await.unwrap();
    held.query_drop("SELECT 1").await.unwrap();
    let Err(err) = pool.get_conn().await else {
        panic!("a connection although the only one is held");
    };
    assert!(matches!(err, Error::PoolExhausted { .. }), "{err}");
    // PoolExhausted names no host; no other test of this binary exhausts a pool.
    let e = wait_for(
        &mut rx,
        "PoolExhausted",
        |_| false,
        |k| matches!(k, EventKind::PoolExhausted { .. }),
    )
    .await;
    let EventKind::PoolExhausted {
        waited,
        hosts,
        busy,
    } = e.kind
    else {
        unreachable!()
    };
    assert_eq!(waited, Duration::from_millis(200));
    assert_eq!((hosts, busy), (1, 1));
    drop(held);
    pool.disconnect().await;
}
