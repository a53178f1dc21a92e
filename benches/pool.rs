//! Figures for the pools: read throughput through `ReplicationPool::reader()` over 1, 2 and 3
//! replicas against a plain `mysql_async::Pool`, and the cost of one checkout (`get_conn` and
//! drop, no statement) against `mysql_async::Pool::get_conn`. Prints figures; asserts nothing.
//!
//! `cargo bench --bench pool` (env: `TASKS` concurrent tasks, default 16; `SECS` per run,
//! default 3; `ROUNDS`, default 3). Every configuration runs once per round; odd rounds run
//! them in reverse order, so slow drift of the (2-core, shared) machine hits all alike, and
//! the summary takes the median over rounds.
//!
//! Server 0 plays the source and servers 1..3 replicas (`read_only=1`; no real replication:
//! only reads are measured). Every pool has `pool_min = pool_max = max(TASKS, 10)` per host, so no
//! task ever waits for a connection and no idle connection is reaped. Server-side counters
//! (`Connections`, `Com_select`) are read around each run: new connections show whether the
//! pool reuses them, `Com_select` counts the statements the servers actually ran.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{env, median};
use hdrhistogram::Histogram;
use mysql_async::prelude::Queryable;
use mysql_lb::{LoadBalancedPool, ReplicationPool};
use mysql_lb_sandbox::{PASSWORD, Sandbox, USER};

/// A small primary-key read; the table exists on every server.
const READ: &str = "SELECT v FROM bench.t WHERE id = 7";
/// Bound on one iteration: longer counts as a hang.
const STEP_BOUND: Duration = Duration::from_secs(10);

/// One pool under test.
#[derive(Clone)]
enum Pool {
    Replication(ReplicationPool),
    Balanced(LoadBalancedPool),
    Plain(mysql_async::Pool),
}

impl Pool {
    /// One checkout, optionally one read, then the handle is dropped (back to the pool).
    async fn step(&self, read: bool) -> Result<(), String> {
        match self {
            Pool::Replication(p) => balanced_step(p.reader(), read).await,
            Pool::Balanced(p) => balanced_step(p, read).await,
            Pool::Plain(p) => {
                let mut c = p.get_conn().await.map_err(|e| format!("get_conn: {e}"))?;
                if read {
                    let _: Option<i64> = c
                        .query_first(READ)
                        .await
                        .map_err(|e| format!("read: {e}"))?;
                }
                Ok(())
            }
        }
    }

    async fn close(self) {
        match self {
            Pool::Replication(p) => p.disconnect().await,
            Pool::Balanced(p) => p.disconnect().await,
            Pool::Plain(p) => {
                let _ = tokio::time::timeout(Duration::from_secs(5), p.disconnect()).await;
            }
        }
    }
}

async fn balanced_step(p: &LoadBalancedPool, read: bool) -> Result<(), String> {
    let mut c = p.get_conn().await.map_err(|e| format!("get_conn: {e}"))?;
    if read {
        let _: Option<i64> = c
            .query_first(READ)
            .await
            .map_err(|e| format!("read: {e}"))?;
    }
    Ok(())
}

/// A configuration: a pool, the sandbox servers it talks to, and whether each step reads.
struct Config {
    name: String,
    pool: Pool,
    servers: Vec<usize>,
    read: bool,
    tasks: usize,
}

/// What one run of one configuration gave.
struct Run {
    checkouts_per_s: f64,
    /// `Com_select` on the servers during the run, per second.
    statements_per_s: f64,
    /// Per server: share of `Com_select`.
    share: Vec<(usize, u64)>,
    /// Connections the servers accepted during the run.
    new_conns: u64,
    /// One step (checkout, read, drop), microseconds.
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
    errors: u64,
    hangs: u64,
    first_error: Option<String>,
}

/// Server `i`'s `Connections` and `Com_select`, read over one connection of its own (which
/// `Connections` then counts).
async fn counters_of(sb: &Sandbox, i: usize) -> (u64, u64) {
    let rows = sb
        .sql(
            i,
            "SHOW GLOBAL STATUS WHERE Variable_name IN ('Connections', 'Com_select')",
        )
        .await
        .expect("SHOW STATUS");
    let get = |name: &str| {
        rows.iter()
            .find(|r| {
                r.get::<String, _>(0)
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
            .and_then(|r| r.get::<String, _>(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (get("Connections"), get("Com_select"))
}

async fn counters(sb: &Sandbox, servers: &[usize]) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for &i in servers {
        out.push(counters_of(sb, i).await);
    }
    out
}

async fn run(sb: &Sandbox, cfg: &Config, dur: Duration) -> Run {
    let before = counters(sb, &cfg.servers).await;
    let done = Arc::new(AtomicU64::new(0));
    let go = Arc::new(tokio::sync::Barrier::new(cfg.tasks + 1));
    let mut handles = Vec::new();
    for _ in 0..cfg.tasks {
        let (pool, done, go, read) = (cfg.pool.clone(), done.clone(), go.clone(), cfg.read);
        handles.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new(3).expect("histogram");
            let (mut errors, mut hangs, mut first_error) = (0u64, 0u64, None);
            go.wait().await;
            let end = Instant::now() + dur;
            while Instant::now() < end {
                let t = Instant::now();
                match tokio::time::timeout(STEP_BOUND, pool.step(read)).await {
                    Ok(Ok(())) => {
                        done.fetch_add(1, Ordering::Relaxed);
                        hist.record(t.elapsed().as_micros() as u64).expect("record");
                    }
                    Ok(Err(e)) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                    Err(_) => {
                        hangs += 1;
                        first_error.get_or_insert(format!("step hung for {STEP_BOUND:?}"));
                    }
                }
            }
            (hist, errors, hangs, first_error)
        }));
    }
    go.wait().await;
    let started = Instant::now();
    let mut hist = Histogram::<u64>::new(3).expect("histogram");
    let (mut errors, mut hangs, mut first_error) = (0, 0, None);
    for h in handles {
        let (h, e, g, f) = h.await.expect("task");
        hist.add(h).expect("histogram add");
        errors += e;
        hangs += g;
        if first_error.is_none() {
            first_error = f;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let after = counters(sb, &cfg.servers).await;
    // Each SHOW STATUS opens one connection of its own: the one that read `after` counts.
    let new_conns = before
        .iter()
        .zip(&after)
        .map(|(b, a)| (a.0 - b.0).saturating_sub(1))
        .sum();
    let share: Vec<(usize, u64)> = cfg
        .servers
        .iter()
        .zip(before.iter().zip(&after))
        .map(|(&i, (b, a))| (i, a.1 - b.1))
        .collect();
    let selects: u64 = share.iter().map(|s| s.1).sum();
    Run {
        checkouts_per_s: done.load(Ordering::Relaxed) as f64 / secs,
        statements_per_s: selects as f64 / secs,
        share,
        new_conns,
        p50_us: hist.value_at_quantile(0.5),
        p99_us: hist.value_at_quantile(0.99),
        max_us: hist.max(),
        errors,
        hangs,
        first_error,
    }
}

fn print_run(cfg: &Config, r: &Run) {
    let share: Vec<String> = r.share.iter().map(|(i, n)| format!("s{i}:{n}")).collect();
    print!(
        "  {:<34} {:>9.0} checkouts/s {:>9.0} stmts/s  p50 {:>5} us  p99 {:>6} us  max {:>7} us  new conns {:>3}  selects in run [{}]",
        cfg.name,
        r.checkouts_per_s,
        r.statements_per_s,
        r.p50_us,
        r.p99_us,
        r.max_us,
        r.new_conns,
        share.join(" ")
    );
    if r.errors + r.hangs > 0 {
        print!(
            "  ERRORS {} HANGS {} first: {}",
            r.errors,
            r.hangs,
            r.first_error.as_deref().unwrap_or("")
        );
    }
    println!();
}

/// Runs every configuration `rounds` times, alternating the order; returns checkouts/s per
/// configuration per round.
async fn rounds(sb: &Sandbox, cfgs: &[Config], rounds: u64, dur: Duration) -> Vec<Vec<f64>> {
    let mut out = vec![Vec::new(); cfgs.len()];
    for round in 0..rounds {
        println!("round {}", round + 1);
        let order: Vec<usize> = if round % 2 == 0 {
            (0..cfgs.len()).collect()
        } else {
            (0..cfgs.len()).rev().collect()
        };
        for i in order {
            let r = run(sb, &cfgs[i], dur).await;
            print_run(&cfgs[i], &r);
            out[i].push(r.checkouts_per_s);
        }
    }
    out
}

fn url(sb: &Sandbox, scheme: &str, servers: &[usize], params: &str) -> String {
    let hosts: Vec<String> = servers
        .iter()
        .map(|&i| format!("127.0.0.1:{}", sb.port(i)))
        .collect();
    format!("{scheme}://{USER}:{PASSWORD}@{}/?{params}", hosts.join(","))
}

async fn replication(sb: &Sandbox, replicas: usize, params: &str) -> Pool {
    let servers: Vec<usize> = (0..=replicas).collect();
    let opts = url(sb, "mysql:replication", &servers, params)
        .parse()
        .expect("replication URL");
    Pool::Replication(
        ReplicationPool::new(opts)
            .await
            .expect("ReplicationPool::new"),
    )
}

fn balanced(sb: &Sandbox, server: usize, params: &str) -> Pool {
    let opts = url(sb, "mysql", &[server], params)
        .parse()
        .expect("pool URL");
    Pool::Balanced(LoadBalancedPool::new(opts))
}

fn plain(sb: &Sandbox, server: usize, max: usize, reset: bool) -> Pool {
    let constraints = mysql_async::PoolConstraints::new(max, max).expect("pool constraints");
    let pool_opts = mysql_async::PoolOpts::default()
        .with_constraints(constraints)
        .with_reset_connection(reset);
    Pool::Plain(mysql_async::Pool::new(sb.opts(server).pool_opts(pool_opts)))
}

/// A short unmeasured run per configuration: opens the connections and warms caches.
async fn warm(sb: &Sandbox, cfgs: &[Config]) {
    for cfg in cfgs {
        let r = run(sb, cfg, Duration::from_millis(500)).await;
        if r.errors + r.hangs > 0 {
            println!(
                "  warm-up of {}: errors {} hangs {} first: {}",
                cfg.name,
                r.errors,
                r.hangs,
                r.first_error.as_deref().unwrap_or("")
            );
        }
    }
}

fn print_pool_stats(cfgs: &[Config]) {
    for cfg in cfgs {
        let stats = match &cfg.pool {
            Pool::Replication(p) => p.reader().stats(),
            Pool::Balanced(p) => p.stats(),
            Pool::Plain(_) => continue,
        };
        let hosts: Vec<String> = stats
            .iter()
            .map(|s| format!("{} open {} busy {} {:?}", s.addr, s.open, s.busy, s.state))
            .collect();
        println!("  {:<34} {}", cfg.name, hosts.join("; "));
    }
}

#[tokio::main]
async fn main() {
    let tasks = env("TASKS", 16).max(1) as usize;
    let dur = Duration::from_secs(env("SECS", 3).max(1));
    let n_rounds = env("ROUNDS", 3).max(1);
    // Not below 10: the URL parser checks `pool_max` alone against mysql_async's default
    // `pool_min` (10) and refuses a smaller one even when `pool_min` is given too.
    let pool_size = tasks.max(10);

    let sb = Sandbox::start(4).await.expect("sandbox");
    let rows: Vec<String> = (1..=100).map(|i| format!("({i}, {})", i * 10)).collect();
    let setup = format!(
        "CREATE DATABASE IF NOT EXISTS bench; \
         CREATE TABLE IF NOT EXISTS bench.t (id INT PRIMARY KEY, v BIGINT NOT NULL); \
         INSERT IGNORE INTO bench.t VALUES {}",
        rows.join(",")
    );
    for i in 0..sb.len() {
        sb.exec(i, &setup).await.expect("bench table");
    }
    for i in 1..sb.len() {
        sb.exec(i, "SET GLOBAL read_only=1")
            .await
            .expect("read_only");
    }
    let version: String = sb.sql(0, "SELECT VERSION()").await.expect("version")[0]
        .get(0)
        .expect("version");
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "machine: nproc {nproc}, MariaDB {version}, 4 sandbox servers on 127.0.0.1 (same machine)"
    );
    println!(
        "tasks {tasks}, {}s per run, {n_rounds} rounds; every pool pool_min = pool_max = {pool_size} per host; read: {READ}",
        dur.as_secs()
    );

    // 1 and 2: a checkout, one read, drop.
    let params = format!("strategy=roundRobin&pool_min={pool_size}&pool_max={pool_size}");
    let mut reads = Vec::new();
    for replicas in 1..=3 {
        reads.push(Config {
            name: format!("ReplicationPool reader, {replicas} replica(s)"),
            pool: replication(&sb, replicas, &params).await,
            servers: (1..=replicas).collect(),
            read: true,
            tasks,
        });
    }
    reads.push(Config {
        name: "LoadBalancedPool, 1 host (s1)".into(),
        pool: balanced(&sb, 1, &params),
        servers: vec![1],
        read: true,
        tasks,
    });
    for reset in [true, false] {
        reads.push(Config {
            name: format!("mysql_async::Pool s1 reset={reset}"),
            pool: plain(&sb, 1, pool_size, reset),
            servers: vec![1],
            read: true,
            tasks,
        });
    }
    println!("\n== 1, 2: get_conn -> one read -> drop, {tasks} tasks ==");
    println!(
        "ours: reset_connection=true (default): a connection is reset only if its session changed (never here)."
    );
    println!(
        "mysql_async: reset=true (its default) sends COM_RESET_CONNECTION on every return; reset=false does not."
    );
    warm(&sb, &reads).await;
    let read_figs = rounds(&sb, &reads, n_rounds, dur).await;
    println!("pool state after the runs (reader side):");
    print_pool_stats(&reads);
    // Every pool keeps its idle connections: close these before the next part, or the
    // servers run out of connections (max_connections).
    let read_names: Vec<String> = reads.iter().map(|c| c.name.clone()).collect();
    for cfg in reads {
        cfg.pool.close().await;
    }

    // 3: checkout overhead, no statement.
    let mut overhead = Vec::new();
    for t in [1, tasks] {
        overhead.push(Config {
            name: format!("LoadBalancedPool s1, {t} task(s)"),
            pool: balanced(&sb, 1, &params),
            servers: vec![1],
            read: false,
            tasks: t,
        });
        for reset in [true, false] {
            overhead.push(Config {
                name: format!("mysql_async::Pool s1 reset={reset}, {t} task(s)"),
                pool: plain(&sb, 1, pool_size, reset),
                servers: vec![1],
                read: false,
                tasks: t,
            });
        }
    }
    println!("\n== 3: checkout overhead: get_conn -> drop, no statement ==");
    warm(&sb, &overhead).await;
    let over_figs = rounds(&sb, &overhead, n_rounds, dur).await;
    println!("pool state after the runs:");
    print_pool_stats(&overhead);

    println!("\n== summary (median over {n_rounds} rounds) ==");
    let names = read_names.iter().chain(overhead.iter().map(|c| &c.name));
    for (name, figs) in names.zip(read_figs.iter().chain(&over_figs)) {
        let m = median(figs.clone());
        println!("  {name:<44} {m:>9.0} checkouts/s");
    }
    let base = median(read_figs[3].clone());
    for i in 0..3 {
        println!(
            "  reader over {} replica(s) / one plain mysql_async reset=false: {:.2}x; / reset=true: {:.2}x; / LoadBalancedPool 1 host: {:.2}x",
            i + 1,
            median(read_figs[i].clone()) / median(read_figs[5].clone()),
            median(read_figs[i].clone()) / median(read_figs[4].clone()),
            median(read_figs[i].clone()) / base,
        );
    }
    println!(
        "checkout time ours / mysql_async (per round: time per checkout is 1 / rate; median of the per-round ratios):"
    );
    for (k, t) in [1, tasks].iter().enumerate() {
        let ours = &over_figs[3 * k];
        for (j, reset) in [true, false].iter().enumerate() {
            let theirs = &over_figs[3 * k + 1 + j];
            let ratios: Vec<f64> = ours.iter().zip(theirs).map(|(o, t)| t / o).collect();
            println!(
                "  {t} task(s), vs reset={reset}: {:.2}  (rounds: {})",
                median(ratios.clone()),
                ratios
                    .iter()
                    .map(|r| format!("{r:.2}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
    }

    for cfg in overhead {
        cfg.pool.close().await;
    }
}
