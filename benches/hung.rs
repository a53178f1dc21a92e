//! What callers see when one of three servers hangs (SIGSTOP), with the options a user gets by
//! default (hedged reads on, `strategy=random`, `socket_timeout=5m`): the bench sets no option
//! in parts 1–3, and only `hedge=false` for the `off` rounds of part 4. Prints figures;
//! asserts nothing.
//!
//! 1. Reads: `TASKS` `LoadBalancedConnection`s (one shared `Balancer`) loop `SELECT 1` for
//!    `SECS`; server 1 is SIGSTOPped from `PAUSE_AT` to `RESUME_AT` seconds.
//! 2. Pool checkouts: the same with a `LoadBalancedPool`, each operation `get_conn()` +
//!    `SELECT 1` + drop.
//! 3. Writes: `INSERT INTO test.c (v) VALUES (1)` under the same pause; rows on the servers
//!    against the `Ok`s the callers saw (a hedge never sends a write twice).
//! 4. Healthy throughput, hedging on (default) against `hedge=false`, in alternating rounds.
//!
//! `cargo bench --bench hung`; env: `TASKS` (8), `SECS` (10), `PAUSE_AT` (3), `RESUME_AT`
//! (7), `SETTLE` (max seconds to wait for row counts to settle, 10), `ROUNDS` of each kind in
//! part 4 (4), `ROUND_SECS` (3), `WARMUP` seconds (1), `PARTS` (which parts, "1234").

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use common::{cpu_self, env, loadavg, median};
use hdrhistogram::Histogram;
use mysql_async::prelude::Queryable;
use mysql_lb::{
    Balancer, Blacklist, DataOutcome, Error, HostAddr, LbOpts, LoadBalancedConnection,
    LoadBalancedPool,
};
use mysql_lb_sandbox::{PASSWORD, Sandbox, USER};

const QUERY: &str = "SELECT 1";
const INSERT: &str = "INSERT INTO test.c (v) VALUES (1)";
const SERVERS: usize = 3;
/// The server that is paused.
const HUNG: usize = 1;

fn lb_opts(sb: &Sandbox, query: &str) -> LbOpts {
    let hosts: Vec<String> = (0..sb.len())
        .map(|i| format!("127.0.0.1:{}", sb.port(i)))
        .collect();
    let q = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    format!("mysql://{USER}:{PASSWORD}@{}/{q}", hosts.join(","))
        .parse()
        .expect("bench URL")
}

/// The index of the server a handle is on (`SERVERS` if none).
fn host_of(sb: &Sandbox, c: &LoadBalancedConnection) -> usize {
    c.current_host()
        .and_then(|h| (0..sb.len()).find(|&i| sb.port(i) == h.port()))
        .unwrap_or(SERVERS)
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn hist() -> Histogram<u64> {
    Histogram::new(3).expect("histogram")
}

/// The pause schedule.
#[derive(Clone, Copy)]
struct Fault {
    run: Duration,
    pause_at: Duration,
    resume_at: Duration,
}

/// One operation: when it started (since the run's start), how long it took (and, for the
/// pool, how long its checkout took), on which server it ended, and whether it failed.
#[derive(Clone, Copy)]
struct Sample {
    at: Duration,
    took: Duration,
    checkout: Duration,
    /// The server the handle was on when the statement started (`SERVERS`: none yet).
    from: usize,
    host: usize,
    ok: bool,
}

#[derive(Default)]
struct Tally {
    samples: Vec<Sample>,
    errors: Vec<String>,
}

/// `Balancer::hedges()` at the run's start, the pause, the resume and the end.
type HedgeMarks = [(u64, u64); 4];

/// Pauses server `HUNG` on schedule and snapshots the balancer's hedge counters at each
/// boundary, and stops the tasks at the end.
async fn fault_schedule(
    sb: &Sandbox,
    balancer: &Balancer,
    start: Instant,
    f: Fault,
    stop: &AtomicBool,
) -> HedgeMarks {
    let h0 = balancer.hedges();
    tokio::time::sleep_until((start + f.pause_at).into()).await;
    // `pause` polls /proc until every thread of the server is stopped (a blocking wait of
    // up to a second): off the runtime's worker, so the tasks it carries are not held up.
    let t = Instant::now();
    tokio::task::block_in_place(|| sb.pause(HUNG));
    let h1 = balancer.hedges();
    println!(
        "  (server {HUNG} paused at {:.3} s; `pause` returned after {:.1} ms)",
        (t - start).as_secs_f64(),
        t.elapsed().as_secs_f64() * 1e3
    );
    tokio::time::sleep_until((start + f.resume_at).into()).await;
    sb.resume(HUNG);
    let h2 = balancer.hedges();
    tokio::time::sleep_until((start + f.run).into()).await;
    stop.store(true, Ordering::Relaxed);
    let h3 = balancer.hedges();
    [h0, h1, h2, h3]
}

/// Latencies by phase and the hedge shares: the part 1 and 2 report.
fn report_reads(f: Fault, tally: &Tally, marks: &HedgeMarks, pool: bool) {
    let (mut all, mut healthy, mut fault, mut after, mut checkout) =
        (hist(), hist(), hist(), hist(), hist());
    let mut started = [0u64; 3];
    let mut fault_by_host = [0u64; SERVERS + 1];
    let mut after_by_host = [0u64; SERVERS + 1];
    let mut worst: Option<Sample> = None;
    let mut worst_checkout = Duration::ZERO;
    for s in &tally.samples {
        let us = s.took.as_micros() as u64;
        all.record(us).ok();
        checkout.record(s.checkout.as_micros() as u64).ok();
        worst_checkout = worst_checkout.max(s.checkout);
        if worst.is_none_or(|w| s.took > w.took) {
            worst = Some(*s);
        }
        let end = s.at + s.took;
        if end < f.pause_at {
            healthy.record(us).ok();
        } else if s.at < f.resume_at {
            // Started during the pause, or in flight when it began.
            fault.record(us).ok();
            fault_by_host[s.host.min(SERVERS)] += 1;
        } else {
            after.record(us).ok();
            after_by_host[s.host.min(SERVERS)] += 1;
        }
        let phase = if s.at < f.pause_at {
            0
        } else if s.at < f.resume_at {
            1
        } else {
            2
        };
        started[phase] += 1;
    }
    let what = if pool { "operations" } else { "statements" };
    println!("  {what:<28} {:>10}", tally.samples.len());
    println!(
        "  errors seen by callers       {:>10}   (target 0)",
        tally.errors.len()
    );
    for e in tally.errors.iter().take(5) {
        println!("    e.g. {e}");
    }
    if let Some(w) = worst {
        println!(
            "  worst {:<22} {:>8.2} ms   (target <= 100 ms; started at {:.3} s, ended on server {})",
            if pool { "operation" } else { "statement" },
            w.took.as_secs_f64() * 1e3,
            w.at.as_secs_f64(),
            w.host
        );
    }
    if pool {
        println!(
            "  worst checkout (get_conn)    {:>8.2} ms   p99 {:.2} ms",
            worst_checkout.as_secs_f64() * 1e3,
            ms(checkout.value_at_quantile(0.99))
        );
    }
    let line = |name: &str, h: &Histogram<u64>| {
        println!(
            "  {name:<27} n {:>7}  p50 {:>6.2} ms  p99 {:>7.2} ms  p99.9 {:>7.2} ms  max {:>7.2} ms",
            h.len(),
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.99)),
            ms(h.value_at_quantile(0.999)),
            ms(h.max())
        );
    };
    line("healthy (before the pause)", &healthy);
    line("during the pause", &fault);
    line("after the resume", &after);
    line("whole run", &all);
    let (hp, fp) = (
        healthy.value_at_quantile(0.99) as f64,
        fault.value_at_quantile(0.99) as f64,
    );
    println!(
        "  p99 during / p99 healthy     {:>10.2}x  (target <= 2x)",
        fp / hp.max(1.0)
    );
    println!(
        "  during the pause, answered by server 0/1/2: {:?}",
        &fault_by_host[..SERVERS]
    );
    println!(
        "  after the resume, answered by server 0/1/2: {:?}",
        &after_by_host[..SERVERS]
    );
    let mut slow: Vec<&Sample> = tally.samples.iter().collect();
    slow.sort_by_key(|s| std::cmp::Reverse(s.took));
    let slow: Vec<String> = slow
        .iter()
        .take(5)
        .map(|s| {
            let checkout = if pool {
                format!(", checkout {:.1} ms", s.checkout.as_secs_f64() * 1e3)
            } else {
                String::new()
            };
            format!(
                "{:.1} ms at {:.3} s ({}→{}{checkout})",
                s.took.as_secs_f64() * 1e3,
                s.at.as_secs_f64(),
                s.from,
                s.host
            )
        })
        .collect();
    println!("  slowest 5 (server before→after): {}", slow.join(", "));
    let mut moves = std::collections::BTreeMap::new();
    for s in tally.samples.iter().filter(|s| s.from != s.host) {
        let phase = if s.at < f.pause_at {
            "healthy"
        } else if s.at < f.resume_at {
            "pause"
        } else {
            "after"
        };
        *moves.entry((phase, s.from, s.host)).or_insert(0u64) += 1;
    }
    let moves: Vec<String> = moves
        .iter()
        .map(|((p, a, b), n)| format!("{p} {a}→{b} ×{n}"))
        .collect();
    println!(
        "  statements that ended on another server than they started: {}",
        if moves.is_empty() {
            "none".into()
        } else {
            moves.join(", ")
        }
    );
    let phases = ["healthy", "pause", "after resume"];
    for (p, name) in phases.iter().enumerate() {
        let sent = marks[p + 1].0 - marks[p].0;
        let won = marks[p + 1].1 - marks[p].1;
        let n = started[p].max(1) as f64;
        println!(
            "  hedges, {name:<13} sent {sent:>5} ({:>6.3}% of {:>7} started)  won {won:>5} ({:.3}%)",
            sent as f64 * 100.0 / n,
            started[p],
            won as f64 * 100.0 / n
        );
    }
}

/// Part 1: handles reading through one shared balancer, server `HUNG` paused mid-run.
async fn reads(sb: &Arc<Sandbox>, tasks: usize, f: Fault) {
    let balancer = Balancer::new(lb_opts(sb, ""));
    let go = Arc::new(tokio::sync::Barrier::new(tasks + 1));
    let start = Arc::new(OnceLock::<Instant>::new());
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    let mut spread = [0usize; SERVERS + 1];
    for _ in 0..tasks {
        let mut c = LoadBalancedConnection::connect_with(balancer.clone())
            .await
            .expect("connect");
        spread[host_of(sb, &c)] += 1;
        let (go, start, stop, sb) = (go.clone(), start.clone(), stop.clone(), sb.clone());
        handles.push(tokio::spawn(async move {
            go.wait().await;
            let start = *start.get().expect("start");
            let mut t = Tally::default();
            while !stop.load(Ordering::Relaxed) {
                let from = host_of(&sb, &c);
                let s = Instant::now();
                let r = c.query_drop(QUERY).await;
                let took = s.elapsed();
                if let Err(e) = &r {
                    t.errors.push(e.to_string());
                }
                t.samples.push(Sample {
                    at: s - start,
                    took,
                    checkout: Duration::ZERO,
                    from,
                    host: host_of(&sb, &c),
                    ok: r.is_ok(),
                });
            }
            c.disconnect().await;
            t
        }));
    }
    println!(
        "  handles per server at connect (0/1/2): {:?}",
        &spread[..SERVERS]
    );
    let t0 = Instant::now();
    start.set(t0).expect("once");
    go.wait().await;
    let marks = fault_schedule(sb, &balancer, t0, f, &stop).await;
    let mut tally = Tally::default();
    let mut end_spread = [0usize; SERVERS + 1];
    for h in handles {
        let t = h.await.expect("task");
        if let Some(last) = t.samples.last() {
            end_spread[last.host.min(SERVERS)] += 1;
        }
        tally.samples.extend(t.samples);
        tally.errors.extend(t.errors);
    }
    println!(
        "  handles per server at the end (0/1/2): {:?}",
        &end_spread[..SERVERS]
    );
    report_reads(f, &tally, &marks, false);
}

/// Part 2: pooled checkouts, each `get_conn` + `SELECT 1` + drop.
async fn pool_reads(sb: &Arc<Sandbox>, tasks: usize, f: Fault) {
    let balancer = Balancer::new(lb_opts(sb, ""));
    let pool = LoadBalancedPool::with_balancer(balancer.clone());
    let go = Arc::new(tokio::sync::Barrier::new(tasks + 1));
    let start = Arc::new(OnceLock::<Instant>::new());
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (go, start, stop, sb, pool) = (
            go.clone(),
            start.clone(),
            stop.clone(),
            sb.clone(),
            pool.clone(),
        );
        handles.push(tokio::spawn(async move {
            go.wait().await;
            let start = *start.get().expect("start");
            let mut t = Tally::default();
            while !stop.load(Ordering::Relaxed) {
                let s = Instant::now();
                let c = pool.get_conn().await;
                let checkout = s.elapsed();
                let (ok, from, host) = match c {
                    Ok(mut c) => {
                        let from = host_of(&sb, &c);
                        let r = c.query_drop(QUERY).await;
                        if let Err(e) = &r {
                            t.errors.push(format!("statement: {e}"));
                        }
                        (r.is_ok(), from, host_of(&sb, &c))
                    }
                    Err(e) => {
                        t.errors.push(format!("get_conn: {e}"));
                        (false, SERVERS, SERVERS)
                    }
                };
                t.samples.push(Sample {
                    at: s - start,
                    took: s.elapsed(),
                    checkout,
                    from,
                    host,
                    ok,
                });
            }
            t
        }));
    }
    // The pool starts empty: the run's first operations open its connections (counted in the
    // healthy phase).
    let t0 = Instant::now();
    start.set(t0).expect("once");
    go.wait().await;
    let marks = fault_schedule(sb, &balancer, t0, f, &stop).await;
    let mut tally = Tally::default();
    for h in handles {
        let t = h.await.expect("task");
        tally.samples.extend(t.samples);
        tally.errors.extend(t.errors);
    }
    let stmt_worst = tally
        .samples
        .iter()
        .map(|s| s.took.saturating_sub(s.checkout))
        .max()
        .unwrap_or_default();
    report_reads(f, &tally, &marks, true);
    println!(
        "  worst statement (after checkout) {:>6.2} ms",
        stmt_worst.as_secs_f64() * 1e3
    );
    let failed = tally.samples.iter().filter(|s| !s.ok).count();
    println!("  operations that failed       {failed:>10}");
    pool.disconnect().await;
}

async fn count_rows(sb: &Sandbox) -> Vec<Option<u64>> {
    let mut v = Vec::new();
    for i in 0..sb.len() {
        let n = sb
            .sql(i, "SELECT COUNT(*) FROM test.c")
            .await
            .ok()
            .and_then(|rows| rows.into_iter().next())
            .and_then(|r| r.get::<u64, _>(0));
        v.push(n);
    }
    v
}

/// Part 3: inserts only, server `HUNG` paused mid-run.
async fn writes(sb: &Arc<Sandbox>, tasks: usize, f: Fault, settle: Duration) {
    for i in 0..sb.len() {
        sb.exec(
            i,
            "CREATE DATABASE IF NOT EXISTS test; DROP TABLE IF EXISTS test.c; \
             CREATE TABLE test.c (id BIGINT PRIMARY KEY AUTO_INCREMENT, v INT)",
        )
        .await
        .expect("create test.c");
    }
    let balancer = Balancer::new(lb_opts(sb, ""));
    let go = Arc::new(tokio::sync::Barrier::new(tasks + 1));
    let start = Arc::new(OnceLock::<Instant>::new());
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    let mut spread = [0usize; SERVERS + 1];
    struct W {
        ok: [u64; SERVERS + 1],
        not_applied: [u64; SERVERS + 1],
        unknown: [u64; SERVERS + 1],
        worst: Duration,
        worst_at: Duration,
        errors: Vec<String>,
        lat: Histogram<u64>,
    }
    for _ in 0..tasks {
        let mut c = LoadBalancedConnection::connect_with(balancer.clone())
            .await
            .expect("connect");
        spread[host_of(sb, &c)] += 1;
        let (go, start, stop, sb) = (go.clone(), start.clone(), stop.clone(), sb.clone());
        handles.push(tokio::spawn(async move {
            go.wait().await;
            let start = *start.get().expect("start");
            let mut w = W {
                ok: [0; SERVERS + 1],
                not_applied: [0; SERVERS + 1],
                unknown: [0; SERVERS + 1],
                worst: Duration::ZERO,
                worst_at: Duration::ZERO,
                errors: Vec::new(),
                lat: hist(),
            };
            while !stop.load(Ordering::Relaxed) {
                // The host the write is sent to (a write is never moved mid-statement).
                let before = host_of(&sb, &c);
                let s = Instant::now();
                let r = c.query_drop(INSERT).await;
                let took = s.elapsed();
                w.lat.record(took.as_micros() as u64).ok();
                if took > w.worst {
                    w.worst = took;
                    w.worst_at = s - start;
                }
                match r {
                    Ok(()) => w.ok[host_of(&sb, &c)] += 1,
                    Err(e) => {
                        match Error::outcome(&e) {
                            DataOutcome::NotApplied => w.not_applied[before] += 1,
                            DataOutcome::Unknown => w.unknown[before] += 1,
                        }
                        w.errors.push(format!("{:?}: {e}", Error::outcome(&e)));
                    }
                }
            }
            c.disconnect().await;
            w
        }));
    }
    println!(
        "  handles per server at connect (0/1/2): {:?}",
        &spread[..SERVERS]
    );
    let t0 = Instant::now();
    start.set(t0).expect("once");
    go.wait().await;
    let marks = fault_schedule(sb, &balancer, t0, f, &stop).await;
    let mut ok = [0u64; SERVERS + 1];
    let mut not_applied = [0u64; SERVERS + 1];
    let mut unknown = [0u64; SERVERS + 1];
    let (mut worst, mut worst_at) = (Duration::ZERO, Duration::ZERO);
    let mut errors = Vec::new();
    let mut lat = hist();
    for h in handles {
        let w = h.await.expect("task");
        for i in 0..=SERVERS {
            ok[i] += w.ok[i];
            not_applied[i] += w.not_applied[i];
            unknown[i] += w.unknown[i];
        }
        if w.worst > worst {
            (worst, worst_at) = (w.worst, w.worst_at);
        }
        errors.extend(w.errors);
        lat.add(&w.lat).ok();
    }
    let joined = t0.elapsed();
    // Bounded settle: until two readings a second apart agree, at most `settle`.
    let settle_start = Instant::now();
    let mut rows = count_rows(sb).await;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let again = count_rows(sb).await;
        let stable = again == rows && again.iter().all(Option::is_some);
        rows = again;
        if stable || settle_start.elapsed() >= settle {
            break;
        }
    }
    let total_ok: u64 = ok.iter().sum();
    let total_na: u64 = not_applied.iter().sum();
    let total_unk: u64 = unknown.iter().sum();
    let total_rows: u64 = rows.iter().map(|r| r.unwrap_or(0)).sum();
    println!(
        "  tasks joined {:.2} s after the start; row counts settled in {:.1} s",
        joined.as_secs_f64(),
        settle_start.elapsed().as_secs_f64()
    );
    println!("  writes Ok                    {total_ok:>10}");
    println!("  errors NotApplied            {total_na:>10}");
    println!("  errors Unknown               {total_unk:>10}");
    for e in errors.iter().take(5) {
        println!("    e.g. {e}");
    }
    println!("  rows on the servers          {total_rows:>10}");
    for i in 0..SERVERS {
        println!(
            "    server {i}: rows {:>8}  Ok {:>8}  Unknown {:>4}  NotApplied {:>4}",
            rows[i].map_or("?".into(), |r| r.to_string()),
            ok[i],
            unknown[i],
            not_applied[i]
        );
    }
    if total_rows < total_ok {
        println!(
            "  !!! BUG: fewer rows ({total_rows}) than Ok writes ({total_ok}): an Ok write is missing"
        );
    } else if total_rows > total_ok + total_unk {
        println!(
            "  !!! BUG: {total_rows} rows > Ok {total_ok} + Unknown {total_unk}: a write was applied \
             more than once (or an error said NotApplied but it landed)"
        );
    } else {
        println!(
            "  rows − Ok = {} (Unknown that landed, of {total_unk}); no write doubled",
            total_rows - total_ok
        );
    }
    for i in 0..SERVERS {
        if let Some(r) = rows[i]
            && (r < ok[i] || r > ok[i] + unknown[i])
        {
            println!(
                "  !!! server {i}: rows {r} outside Ok {} .. Ok + Unknown {}",
                ok[i],
                ok[i] + unknown[i]
            );
        }
    }
    println!(
        "  worst write latency          {:>8.2} ms (started at {:.3} s); p50 {:.2} ms  p99 {:.2} ms",
        worst.as_secs_f64() * 1e3,
        worst_at.as_secs_f64(),
        ms(lat.value_at_quantile(0.5)),
        ms(lat.value_at_quantile(0.99))
    );
    let (sent, won) = marks[3];
    println!("  hedges (writes are never hedged): sent {sent}, won {won}");
}

struct Round {
    statements: u64,
    wall: Duration,
    cpu: Duration,
    hedges: u64,
    spread: [usize; SERVERS + 1],
}

impl Round {
    fn rate(&self) -> f64 {
        self.statements as f64 / self.wall.as_secs_f64()
    }
    fn cpu_us(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.statements as f64
    }
}

/// One round of part 4: `tasks` handles over `balancer`, opened before the clock starts.
async fn round(sb: &Arc<Sandbox>, balancer: &Arc<Balancer>, tasks: usize, dur: Duration) -> Round {
    let mut spread = [0usize; SERVERS + 1];
    let go = Arc::new(tokio::sync::Barrier::new(tasks + 1));
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let mut c = LoadBalancedConnection::connect_with(balancer.clone())
            .await
            .expect("connect");
        spread[host_of(sb, &c)] += 1;
        let (go, stop) = (go.clone(), stop.clone());
        handles.push(tokio::spawn(async move {
            go.wait().await;
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                c.query_drop(QUERY).await.expect("query");
                n += 1;
            }
            (c, n)
        }));
    }
    let h0 = balancer.hedges().0;
    let (cpu0, t0) = (cpu_self(), Instant::now());
    go.wait().await;
    tokio::time::sleep(dur).await;
    stop.store(true, Ordering::Relaxed);
    let mut conns = Vec::new();
    let mut statements = 0;
    for h in handles {
        let (c, n) = h.await.expect("task");
        conns.push(c);
        statements += n;
    }
    let wall = t0.elapsed();
    let cpu = cpu_self() - cpu0;
    let hedges = balancer.hedges().0 - h0;
    for c in conns {
        c.disconnect().await;
    }
    Round {
        statements,
        wall,
        cpu,
        hedges,
        spread,
    }
}

/// Part 4: hedging on (default) against `hedge=false`, healthy servers.
async fn throughput(sb: &Arc<Sandbox>, tasks: usize, rounds: usize, dur: Duration, warm: Duration) {
    let on = Balancer::new(lb_opts(sb, ""));
    let off = Balancer::new(lb_opts(sb, "hedge=false"));
    for (name, b) in [("on", &on), ("off", &off)] {
        let r = round(sb, b, tasks, warm).await;
        println!(
            "  warm-up {name:<4} {:>8.0} stmt/s  {:>6.2} µs CPU/stmt",
            r.rate(),
            r.cpu_us()
        );
    }
    let (mut ons, mut offs) = (Vec::new(), Vec::new());
    for i in 0..rounds {
        for (name, b) in [("on", &on), ("off", &off)] {
            let r = round(sb, b, tasks, dur).await;
            println!(
                "  round {i} {name:<4} {:>8} stmts in {:.3} s  {:>8.0} stmt/s  {:>6.2} µs CPU/stmt  \
                 hedges {:>4}  handles per server {:?}",
                r.statements,
                r.wall.as_secs_f64(),
                r.rate(),
                r.cpu_us(),
                r.hedges,
                &r.spread[..SERVERS]
            );
            if name == "on" {
                ons.push(r);
            } else {
                offs.push(r);
            }
        }
    }
    let mon = median(ons.iter().map(Round::rate).collect());
    let moff = median(offs.iter().map(Round::rate).collect());
    let pairs: Vec<f64> = ons
        .iter()
        .zip(&offs)
        .map(|(a, b)| a.rate() / b.rate())
        .collect();
    let con = median(ons.iter().map(Round::cpu_us).collect());
    let coff = median(offs.iter().map(Round::cpu_us).collect());
    let sent: u64 = ons.iter().map(|r| r.hedges).sum();
    let n: u64 = ons.iter().map(|r| r.statements).sum();
    let off_hedges: u64 = offs.iter().map(|r| r.hedges).sum();
    println!("  median stmt/s  on {mon:>8.0}   off {moff:>8.0}");
    println!(
        "  on/off ratio of medians      {:>8.3}  (target >= 0.98); pairwise median {:.3} ({:.3}–{:.3})",
        mon / moff,
        median(pairs.clone()),
        pairs.iter().copied().fold(f64::INFINITY, f64::min),
        pairs.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    );
    println!(
        "  client CPU µs/stmt (median)  on {con:.2}   off {coff:.2}   ({:+.2} µs, {:+.1}%)",
        con - coff,
        (con - coff) / coff * 100.0
    );
    println!(
        "  hedges in the on rounds      {sent} of {n} statements ({:.4}%); off rounds {off_hedges}",
        sent as f64 * 100.0 / n.max(1) as f64
    );
}

/// Waits (bounded) until the hung server is off the process-wide blacklist, so that one part
/// does not start with the previous one's suspicion.
async fn wait_clear(sb: &Sandbox) {
    let addr = HostAddr::new("127.0.0.1", sb.port(HUNG));
    let t = Instant::now();
    while Blacklist::global().contains(&addr) && t.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if t.elapsed() > Duration::from_millis(1) {
        println!(
            "  (waited {:.2} s for server {HUNG} to leave the blacklist; still on it: {})",
            t.elapsed().as_secs_f64(),
            Blacklist::global().contains(&addr)
        );
    }
    // Let the dropped losers' connections and the servers' threads wind down.
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let tasks = env("TASKS", 8) as usize;
    let f = Fault {
        run: Duration::from_secs(env("SECS", 10)),
        pause_at: Duration::from_secs(env("PAUSE_AT", 3)),
        resume_at: Duration::from_secs(env("RESUME_AT", 7)),
    };
    let settle = Duration::from_secs(env("SETTLE", 10));
    let rounds = env("ROUNDS", 4) as usize;
    let round_secs = Duration::from_secs(env("ROUND_SECS", 3));
    let warm = Duration::from_secs(env("WARMUP", 1));
    let parts = std::env::var("PARTS").unwrap_or_else(|_| "1234".into());

    let t = Instant::now();
    let sb = Arc::new(Sandbox::start(SERVERS).await.expect("sandbox"));
    println!("== hung host ==");
    println!(
        "sandbox: {SERVERS} servers started in {:.1?}; tokio multi-thread, {} workers; \
         load average at start: {}",
        t.elapsed(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg()
    );
    println!(
        "options: none set in parts 1–3 (URL `mysql://…@h0,h1,h2/`: library defaults, i.e. \
         strategy=random, hedge=true, hedge_budget=5, hedge_delay 5ms–80ms, socket_timeout=5m, \
         process-wide blacklist); part 4's `off` rounds set only hedge=false"
    );
    println!(
        "fault: server {HUNG} SIGSTOPped from {:?} to {:?} of a {:?} run; {tasks} tasks",
        f.pause_at, f.resume_at, f.run
    );

    if parts.contains('1') {
        println!("\n1. reads under SIGSTOP ({tasks} LoadBalancedConnections, `{QUERY}`):");
        reads(&sb, tasks, f).await;
        wait_clear(&sb).await;
    }
    if parts.contains('2') {
        println!("\n2. pool checkouts under SIGSTOP ({tasks} tasks, get_conn + `{QUERY}` + drop):");
        pool_reads(&sb, tasks, f).await;
        wait_clear(&sb).await;
    }
    if parts.contains('3') {
        println!("\n3. writes only under SIGSTOP ({tasks} LoadBalancedConnections, `{INSERT}`):");
        writes(&sb, tasks, f, settle).await;
        wait_clear(&sb).await;
    }
    if parts.contains('4') {
        println!(
            "\n4. healthy throughput, hedge=true (default) vs hedge=false, {tasks} tasks of \
             `{QUERY}`, {rounds} rounds of each of {round_secs:?}, alternating, after a \
             {warm:?} warm-up of each:"
        );
        throughput(&sb, tasks, rounds, round_secs, warm).await;
    }
    println!("\nload average at end: {}", loadavg());
}
