//! Figures for the connection: throughput against plain `mysql_async::Conn`, and what callers
//! see when one of three servers is SIGKILLed mid-run. Prints figures; asserts nothing.
//!
//! `cargo bench --bench failover` (env: `TASKS` per side, default 4; `SECS` per round,
//! default 3; `ROUNDS`, default 5)

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::env;
use hdrhistogram::Histogram;
use mysql_async::prelude::Queryable;
use mysql_lb::{Balancer, LbOpts, LoadBalancedConnection};
use mysql_lb_sandbox::{PASSWORD, Sandbox, USER};

const QUERY: &str = "SELECT 1";

fn lb_opts(sb: &Sandbox, extra: &str) -> LbOpts {
    let hosts: Vec<String> = (0..sb.len())
        .map(|i| format!("127.0.0.1:{}", sb.port(i)))
        .collect();
    format!("mysql://{USER}:{PASSWORD}@{}/?{extra}", hosts.join(","))
        .parse()
        .expect("bench URL")
}

/// Runs `tasks` plain `Conn`s (task i on server i % n) and `tasks` balanced handles (one
/// shared round-robin balancer, so they spread the same way) at the same time for `dur`, and
/// returns statements per second of each. Running them side by side gives both the same
/// machine: on two cores that also run the servers, phases run one after the other drift by
/// more than the difference being measured.
async fn side_by_side(sb: &Sandbox, opts: &LbOpts, tasks: usize, dur: Duration) -> (f64, f64) {
    let plain = Arc::new(AtomicU64::new(0));
    let balanced = Arc::new(AtomicU64::new(0));
    let balancer = Balancer::new(opts.clone());
    let start = Arc::new(tokio::sync::Barrier::new(2 * tasks));
    let mut handles = Vec::new();
    for t in 0..tasks {
        let (o, done, go) = (sb.opts(t % sb.len()), plain.clone(), start.clone());
        handles.push(tokio::spawn(async move {
            let mut c = mysql_async::Conn::new(o).await.expect("connect");
            go.wait().await;
            let end = Instant::now() + dur;
            while Instant::now() < end {
                c.query_drop(QUERY).await.expect("query");
                done.fetch_add(1, Ordering::Relaxed);
            }
            let _ = c.disconnect().await;
        }));
        let (b, done, go) = (balancer.clone(), balanced.clone(), start.clone());
        handles.push(tokio::spawn(async move {
            let mut c = LoadBalancedConnection::connect_with(b)
                .await
                .expect("connect");
            go.wait().await;
            let end = Instant::now() + dur;
            while Instant::now() < end {
                c.query_drop(QUERY).await.expect("query");
                done.fetch_add(1, Ordering::Relaxed);
            }
            c.disconnect().await;
        }));
    }
    for h in handles {
        h.await.expect("task");
    }
    let secs = dur.as_secs_f64();
    (
        plain.load(Ordering::Relaxed) as f64 / secs,
        balanced.load(Ordering::Relaxed) as f64 / secs,
    )
}

struct KillRun {
    statements: u64,
    errors: u64,
    all: Histogram<u64>,
    second_after_kill: Histogram<u64>,
}

/// Reads through the balancer; server 1 is SIGKILLed at `kill_at`.
async fn with_kill(sb: Arc<Sandbox>, opts: &LbOpts, tasks: usize, dur: Duration) -> KillRun {
    let start = Instant::now();
    let kill_at = dur / 2;
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let opts = opts.clone();
        let stop = stop.clone();
        handles.push(tokio::spawn(async move {
            let mut c = LoadBalancedConnection::connect(opts)
                .await
                .expect("connect");
            let mut samples = Vec::new();
            let mut errors = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let r: mysql_async::Result<Option<u8>> = c.query_first(QUERY).await;
                samples.push((t.duration_since(start), t.elapsed()));
                if let Err(e) = r {
                    eprintln!("caller saw an error: {e}");
                    errors += 1;
                }
            }
            (samples, errors)
        }));
    }
    tokio::time::sleep(kill_at).await;
    sb.kill(1);
    let killed = start.elapsed();
    tokio::time::sleep(dur - kill_at).await;
    stop.store(true, Ordering::Relaxed);
    let mut run = KillRun {
        statements: 0,
        errors: 0,
        all: Histogram::new(3).expect("histogram"),
        second_after_kill: Histogram::new(3).expect("histogram"),
    };
    for h in handles {
        let (samples, errors) = h.await.expect("task");
        run.errors += errors;
        for (at, took) in samples {
            let us = took.as_micros() as u64;
            run.statements += 1;
            run.all.record(us).ok();
            // A statement that started up to 1 s after the kill, or was in flight at it.
            if at + took >= killed && at <= killed + Duration::from_secs(1) {
                run.second_after_kill.record(us).ok();
            }
        }
    }
    run
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let tasks = env("TASKS", 4) as usize;
    let dur = Duration::from_secs(env("SECS", 3));
    let t = Instant::now();
    let sb = Arc::new(Sandbox::start(3).await.expect("sandbox"));
    println!("sandbox: 3 servers started in {:?}", t.elapsed());
    let opts = lb_opts(&sb, "strategy=roundRobin");

    let rounds = env("ROUNDS", 5);
    println!(
        "throughput, {tasks} plain + {tasks} balanced tasks of `{QUERY}` side by side, \
         {rounds} rounds of {dur:?}:"
    );
    let mut ratios = Vec::new();
    for r in 0..rounds {
        let (p, b) = side_by_side(&sb, &opts, tasks, dur).await;
        println!(
            "  round {r}: plain {p:>8.0}/s  balanced {b:>8.0}/s  ratio {:.3}",
            b / p
        );
        ratios.push(b / p);
    }
    ratios.sort_by(|a, b| a.total_cmp(b));
    println!(
        "  median ratio                 {:>10.3}",
        ratios[ratios.len() / 2]
    );

    let run = with_kill(sb.clone(), &opts, 2 * tasks, dur * 2).await;
    let k = &run.second_after_kill;
    println!(
        "one of three servers SIGKILLed mid-run ({} tasks, {:?}):",
        2 * tasks,
        dur * 2
    );
    println!("  statements                   {:>10}", run.statements);
    println!("  errors seen by callers       {:>10}", run.errors);
    println!(
        "  whole run   p50 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms  max {:.2} ms",
        ms(run.all.value_at_quantile(0.5)),
        ms(run.all.value_at_quantile(0.99)),
        ms(run.all.value_at_quantile(0.999)),
        ms(run.all.max())
    );
    println!(
        "  second after the kill  n {}  p99 {:.2} ms  max {:.2} ms",
        k.len(),
        ms(k.value_at_quantile(0.99)),
        ms(k.max())
    );
}
