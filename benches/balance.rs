//! How evenly the balancing strategies spread statements over three servers, whether they
//! herd, and how fast a host that was slow or down gets its share back. Prints figures;
//! asserts nothing.
//!
//! Setup: three sandbox servers, each behind its own `FaultProxy`; the URL
//! `mysql:loadbalance://…` lists the three proxies with `strategy=<name>` and
//! `autocommit_threshold=1`, so a handle asks the strategy again before every statement (the
//! choice is what is measured, not where a handle happened to connect). `TASKS` tasks, each
//! with its own `LoadBalancedConnection` from one shared `Balancer`, loop `SELECT 1`; after
//! each statement the task records when it started (since the run's start), how long it took
//! and `current_host()` (the host that answered: a rebalance happens before the *next*
//! statement). Every run gets three new proxies, so new ports: no latency estimate, blacklist
//! entry or pooled connection of an earlier run is seen by the next (the library keeps those
//! process-wide, by address). Before the clock starts each task runs `PRIME` statements
//! (connections open, estimates seeded), not counted.
//!
//! Hedged reads are turned off (`hedge=false`) unless `HEDGE=1`: a hedge moves a slow read to
//! another host on its own, which would credit the strategy with what the hedge did.
//!
//! A host's share is its statements over all answered statements, shown as a multiple of the
//! fair share (1/3): `1.00` is fair, `0.00` none, `3.00` everything. Statements are put into
//! phases and `BUCKET_MS` buckets by their start time. "To fair" is the time from the
//! recovery to the start of the first bucket where host 0 is within 0.8–1.2× ("first") and to
//! the start of the run of buckets that stays within it to the end ("settled", the one the
//! target is checked on; `never` if the last bucket is outside). In a timeline, `-` is a
//! bucket in which no statement that started there was answered (every task was stuck in a
//! longer one); `max ms` is the longest statement of the run.
//!
//! Stalls: two 10 ms tickers run beside the tasks, one a task on the runtime and one a plain
//! thread, and record how late they wake. A late thread tick means the whole process was
//! starved of CPU (other work on the machine); a late runtime tick with a punctual thread tick
//! means the runtime's workers were held up (a blocking call or a task that never yields).
//! Every run's slowest statement and latest ticks are printed, and a summary line whose run
//! saw a stall over 100 ms says so.
//!
//! 1. Equal hosts, `SECS`: each host's share, the largest, and the largest of any host in any
//!    bucket (herding that averages out over the run). Target: no host above 1.5×.
//! 2. One host slowed: healthy for `WARM` s (its mean latency is the baseline), then host 0's
//!    proxy adds `LATENCY_MS` per round trip for `SLOW` s, then healthy for `RECOVER` s.
//!    Mean latency while slow / healthy mean (target ≤ 1.1 for `bestResponseTime` and
//!    `peakEwma`), host 0's share while slow, then its share per bucket after: time to fair
//!    (target ≤ 3 s) and largest bucket (target ≤ 2×).
//! 3. A host back after the blacklist: healthy for `WARM` s, host 0's proxy resets every
//!    connection, new and existing (`ProxyMode::Reset`), for `DOWN` s, with
//!    `blacklist_timeout=BLACKLIST_MS`, then healthy for `AFTER` s; the same figures and
//!    targets. Run twice: with `autocommit_threshold=1`, and with the option left out (the
//!    default, never rebalance in autocommit): there the handles are long-lived, and whether
//!    they come back to the recovered host at a safe point is what is shown.
//! 4. Equal hosts through a `LoadBalancedPool`: each operation `get_conn()` + `SELECT 1` +
//!    drop, for `SECS`; the same figures as 1.
//!
//! Runs are sequential and share the two cores with the servers and anything else on the
//! machine; the load average is printed at the start and the end.
//!
//! `cargo bench --bench balance` (or `scripts/balance.sh`); env: `TASKS` (8), `SECS` (4),
//! `WARM` (2), `SLOW` (4), `RECOVER` (6), `DOWN` (3), `AFTER` (6) in seconds, `LATENCY_MS`
//! (5), `BUCKET_MS` (500), `BLACKLIST_MS` (1000), `PRIME` (20), `HEDGE` (0), `PARTS` ("1234"),
//! `STRATEGIES` (comma-separated, default `random,roundRobin,bestResponseTime,peakEwma`).

mod common;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use common::{env, loadavg};
use mysql_async::prelude::Queryable;
use mysql_lb::{Balancer, EventKind, HostAddr, LbOpts, LoadBalancedConnection, LoadBalancedPool};
use mysql_lb_sandbox::{FaultProxy, PASSWORD, ProxyMode, Sandbox, USER};
use tokio::sync::broadcast::error::TryRecvError;

const QUERY: &str = "SELECT 1";
const SERVERS: usize = 3;
/// Index for "no host" (a statement that failed with the handle on none).
const NONE: usize = SERVERS;
const ALL_STRATEGIES: &str = "random,roundRobin,bestResponseTime,peakEwma";
/// Fair-share band for "to fair".
const BAND: (f64, f64) = (0.8, 1.2);
/// Upper bound on the statements one task records in one run (a runaway guard; at tens of
/// thousands per second over a few seconds a task stays far below it).
const MAX_PER_TASK: usize = 2_000_000;
/// The period of the tickers that tell a blocked runtime from a starved process.
const TICK: Duration = Duration::from_millis(10);
/// Bound on connecting one handle, on a task stopping after the run, on a disconnect.
const BOUND: Duration = Duration::from_secs(30);

struct Knobs {
    tasks: usize,
    equal: Duration,
    warm: Duration,
    slow: Duration,
    recover: Duration,
    down: Duration,
    after: Duration,
    latency: Duration,
    bucket: Duration,
    blacklist: Duration,
    prime: usize,
    hedge: bool,
}

/// One statement (or pool operation).
#[derive(Clone, Copy)]
struct Sample {
    /// Start, since the run's start.
    at: Duration,
    took: Duration,
    /// The host that answered, `NONE` if it failed with no current host.
    host: usize,
    ok: bool,
    /// The task's first statement answered by that host (priming included): for a handle,
    /// one that opened its connection there.
    fresh: bool,
}

/// A run's record.
struct Run {
    samples: Vec<Sample>,
    errors: u64,
    first_errors: Vec<String>,
    /// `Balancer::hedges()` at the end.
    hedges: (u64, u64),
    /// Tasks that did not stop within `BOUND` (aborted).
    stuck: usize,
    /// The host each handle was on at the end, counted.
    end_hosts: [usize; SERVERS + 1],
    /// How late a 10 ms tick on the runtime, and one on a plain thread, came at worst, and
    /// when (since the start): the first late and not the second means the runtime's
    /// workers were blocked, not the process starved of CPU.
    late_runtime: (Duration, Duration),
    late_thread: (Duration, Duration),
    /// Host 0 going on (`true`) and off (`false`) the blacklist, since the run's start (from
    /// `mysql_lb::subscribe`; events during the priming are at 0).
    h0_events: Vec<(Duration, bool)>,
}

/// Three fresh proxies, one per server.
struct Proxies {
    list: Vec<FaultProxy>,
}

impl Proxies {
    async fn start(sb: &Sandbox) -> Proxies {
        let mut list = Vec::new();
        for i in 0..SERVERS {
            list.push(FaultProxy::start(sb.addr(i)).await.expect("proxy"));
        }
        Proxies { list }
    }

    fn ports(&self) -> [u16; SERVERS] {
        std::array::from_fn(|i| self.list[i].port())
    }

    /// The load-balancing URL over the proxies with `query` (without the `?`).
    fn opts(&self, query: &str) -> LbOpts {
        let hosts: Vec<String> = self
            .list
            .iter()
            .map(|p| format!("127.0.0.1:{}", p.port()))
            .collect();
        format!(
            "mysql:loadbalance://{USER}:{PASSWORD}@{}/?{query}",
            hosts.join(",")
        )
        .parse()
        .expect("bench URL")
    }
}

fn host_index(ports: &[u16; SERVERS], h: Option<&HostAddr>) -> usize {
    h.and_then(|h| ports.iter().position(|&p| p == h.port()))
        .unwrap_or(NONE)
}

/// What the run does to host 0's proxy, and when.
struct Plan {
    total: Duration,
    faults: Vec<(Duration, ProxyMode)>,
}

#[derive(Default)]
struct TaskOut {
    samples: Vec<Sample>,
    errors: u64,
    first_errors: Vec<String>,
    last_host: usize,
    /// Hosts that answered this task so far, priming included.
    seen: [bool; SERVERS + 1],
}

impl TaskOut {
    fn record(&mut self, at: Duration, took: Duration, host: usize, r: Result<(), String>) {
        let ok = r.is_ok();
        if let Err(e) = r {
            self.errors += 1;
            if self.first_errors.len() < 3 {
                self.first_errors.push(e);
            }
        }
        let fresh = ok && !self.seen[host];
        self.seen[host] = true;
        self.samples.push(Sample {
            at,
            took,
            host,
            ok,
            fresh,
        });
    }
}

/// `tasks` clients over one balancer looping `QUERY` for `plan.total`, host 0's proxy faulted
/// on schedule. `pool`: each operation is a pool checkout, else each task holds a handle.
async fn run(proxies: &Proxies, opts: LbOpts, k: &Knobs, pool: bool, plan: &Plan) -> Run {
    let ports = proxies.ports();
    let mut events = mysql_lb::subscribe();
    let balancer = Balancer::new(opts);
    let lb_pool = pool.then(|| LoadBalancedPool::with_balancer(balancer.clone()));
    let go = Arc::new(tokio::sync::Barrier::new(k.tasks + 1));
    let start = Arc::new(OnceLock::<Instant>::new());
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for _ in 0..k.tasks {
        let (go, start, stop, prime) = (go.clone(), start.clone(), stop.clone(), k.prime);
        if let Some(p) = &lb_pool {
            let p = p.clone();
            handles.push(tokio::spawn(async move {
                let mut out = TaskOut::default();
                for _ in 0..prime {
                    if let Ok(mut c) = p.get_conn().await
                        && c.query_drop(QUERY).await.is_ok()
                    {
                        out.seen[host_index(&ports, c.current_host())] = true;
                    }
                }
                go.wait().await;
                let t0 = *start.get().expect("start");
                while !stop.load(Ordering::Relaxed) && out.samples.len() < MAX_PER_TASK {
                    let s = Instant::now();
                    let (host, r) = match p.get_conn().await {
                        Ok(mut c) => {
                            let r = c.query_drop(QUERY).await.map_err(|e| e.to_string());
                            (host_index(&ports, c.current_host()), r)
                        }
                        Err(e) => (NONE, Err(format!("get_conn: {e}"))),
                    };
                    out.record(s.saturating_duration_since(t0), s.elapsed(), host, r);
                    out.last_host = host;
                }
                out
            }));
        } else {
            let mut c = tokio::time::timeout(
                BOUND,
                LoadBalancedConnection::connect_with(balancer.clone()),
            )
            .await
            .expect("connect within the bound")
            .expect("connect");
            handles.push(tokio::spawn(async move {
                let mut out = TaskOut::default();
                for _ in 0..prime {
                    if c.query_drop(QUERY).await.is_ok() {
                        out.seen[host_index(&ports, c.current_host())] = true;
                    }
                }
                go.wait().await;
                let t0 = *start.get().expect("start");
                while !stop.load(Ordering::Relaxed) && out.samples.len() < MAX_PER_TASK {
                    let s = Instant::now();
                    let r = c.query_drop(QUERY).await.map_err(|e| e.to_string());
                    let took = s.elapsed();
                    let host = host_index(&ports, c.current_host());
                    out.record(s.saturating_duration_since(t0), took, host, r);
                }
                out.last_host = host_index(&ports, c.current_host());
                tokio::time::timeout(BOUND, c.disconnect()).await.ok();
                out
            }));
        }
    }
    let (t0, wall0) = (Instant::now(), SystemTime::now());
    start.set(t0).expect("once");
    let rt_ticker = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut worst = (Duration::ZERO, Duration::ZERO);
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                tokio::time::sleep(TICK).await;
                let late = t.elapsed().saturating_sub(TICK);
                if late > worst.0 {
                    worst = (late, t - t0);
                }
            }
            worst
        })
    };
    let thread_ticker = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut worst = (Duration::ZERO, Duration::ZERO);
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                std::thread::sleep(TICK);
                let late = t.elapsed().saturating_sub(TICK);
                if late > worst.0 {
                    worst = (late, t - t0);
                }
            }
            worst
        })
    };
    go.wait().await;
    for (at, mode) in &plan.faults {
        tokio::time::sleep_until((t0 + *at).into()).await;
        proxies.list[0].set_mode(*mode);
    }
    tokio::time::sleep_until((t0 + plan.total).into()).await;
    stop.store(true, Ordering::Relaxed);
    let hedges = balancer.hedges();
    let mut out = Run {
        samples: Vec::new(),
        errors: 0,
        first_errors: Vec::new(),
        hedges,
        stuck: 0,
        end_hosts: [0; SERVERS + 1],
        late_runtime: rt_ticker.await.expect("ticker"),
        late_thread: thread_ticker.join().expect("ticker"),
        h0_events: Vec::new(),
    };
    for mut h in handles {
        match tokio::time::timeout(BOUND, &mut h).await {
            Ok(t) => {
                let t = t.expect("task");
                out.samples.extend(t.samples);
                out.errors += t.errors;
                for e in t.first_errors {
                    if out.first_errors.len() < 3 {
                        out.first_errors.push(e);
                    }
                }
                out.end_hosts[t.last_host.min(NONE)] += 1;
            }
            Err(_) => {
                h.abort();
                out.stuck += 1;
            }
        }
    }
    proxies.list[0].set_mode(ProxyMode::Pass);
    if let Some(p) = lb_pool {
        tokio::time::timeout(BOUND, p.disconnect()).await.ok();
    }
    // Bounded by the channel's capacity: `try_recv` never waits.
    loop {
        let e = match events.try_recv() {
            Ok(e) => e,
            Err(TryRecvError::Lagged(_)) => continue,
            Err(_) => break,
        };
        let at = e.at.duration_since(wall0).unwrap_or_default();
        match e.kind {
            EventKind::HostBlacklisted { host, .. } if host.port() == ports[0] => {
                out.h0_events.push((at, true));
            }
            EventKind::HostBack { host } if host.port() == ports[0] => {
                out.h0_events.push((at, false));
            }
            _ => {}
        }
    }
    out
}

// ---- figures ----------------------------------------------------------------------------

/// Answered statements per host that started in `[from, to)`.
fn counts(s: &[Sample], from: Duration, to: Duration) -> [u64; SERVERS] {
    let mut c = [0; SERVERS];
    for x in s {
        if x.ok && x.host < SERVERS && x.at >= from && x.at < to {
            c[x.host] += 1;
        }
    }
    c
}

/// Each host's share as a multiple of the fair share (NaN when nothing was answered).
fn fair_x(c: &[u64; SERVERS]) -> [f64; SERVERS] {
    let total: u64 = c.iter().sum();
    std::array::from_fn(|i| {
        if total == 0 {
            f64::NAN
        } else {
            c[i] as f64 / total as f64 * SERVERS as f64
        }
    })
}

/// Mean latency in ms of the statements (answered or not) that started in `[from, to)`.
fn mean_ms(s: &[Sample], from: Duration, to: Duration) -> f64 {
    let (mut n, mut sum) = (0u64, 0f64);
    for x in s.iter().filter(|x| x.at >= from && x.at < to) {
        n += 1;
        sum += x.took.as_secs_f64();
    }
    if n == 0 {
        f64::NAN
    } else {
        sum / n as f64 * 1e3
    }
}

/// The longest statement (ms) that started in `[from, to)`.
fn max_ms(s: &[Sample], from: Duration, to: Duration) -> f64 {
    max_f(
        s.iter()
            .filter(|x| x.at >= from && x.at < to)
            .map(|x| x.took.as_secs_f64() * 1e3),
    )
}

/// Host 0's blacklist events (seconds since the start) and the slowest statement.
fn events_note(r: &Run) -> String {
    let list = |on: bool| {
        let v: Vec<String> = r
            .h0_events
            .iter()
            .filter(|e| e.1 == on)
            .map(|e| format!("{:.2}", e.0.as_secs_f64()))
            .collect();
        if v.is_empty() {
            "none".into()
        } else if v.len() > 8 {
            format!(
                "{} … {} ({})",
                v[..4].join(" "),
                v[v.len() - 2..].join(" "),
                v.len()
            )
        } else {
            v.join(" ")
        }
    };
    format!(
        "host 0 blacklisted at {}; back at {}; {}",
        list(true),
        list(false),
        slowest_note(r)
    )
}

/// A warning for the summary when the run's own clocks saw a stall of over 100 ms: a late
/// thread tick means the process was starved of CPU (other work on the machine), a late
/// runtime tick alone that the runtime's workers were held up.
fn noisy(r: &Run) -> String {
    let limit = Duration::from_millis(100);
    let (rt, th) = (r.late_runtime.0, r.late_thread.0);
    if rt > limit || th > limit {
        format!(
            "   (stalls in this run: runtime tick late {:.0} ms, thread tick {:.0} ms)",
            rt.as_secs_f64() * 1e3,
            th.as_secs_f64() * 1e3
        )
    } else {
        String::new()
    }
}

/// The run's slowest statement, how many took over 50 ms, and how many of those were their
/// task's first on that host.
fn slowest_note(r: &Run) -> String {
    let slow = || {
        r.samples
            .iter()
            .filter(|x| x.took > Duration::from_millis(50))
    };
    let (over, fresh) = (slow().count(), slow().filter(|x| x.fresh).count());
    let Some(x) = r.samples.iter().max_by_key(|x| x.took) else {
        return "-".into();
    };
    let on = if x.host < SERVERS {
        format!("host {}", x.host)
    } else {
        "no host".into()
    };
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    format!(
        "slowest {:.1} ms at {:.2} s on {on}{}; {over} over 50 ms ({fresh} of them their task's \
         first on that host); 10 ms ticks late by at most {:.1} ms on the runtime (at {:.2} s), \
         {:.1} ms on a thread (at {:.2} s)",
        ms(x.took),
        x.at.as_secs_f64(),
        if x.fresh { ", its first there" } else { "" },
        ms(r.late_runtime.0),
        r.late_runtime.1.as_secs_f64(),
        ms(r.late_thread.0),
        r.late_thread.1.as_secs_f64(),
    )
}

/// Per-host fair multiples per `bucket` over `[from, to)`.
fn buckets(s: &[Sample], from: Duration, to: Duration, bucket: Duration) -> Vec<[f64; SERVERS]> {
    let n = ((to - from).as_nanos()).div_ceil(bucket.as_nanos().max(1)) as usize;
    let mut c = vec![[0u64; SERVERS]; n];
    for x in s {
        if x.ok && x.host < SERVERS && x.at >= from && x.at < to {
            let i = ((x.at - from).as_nanos() / bucket.as_nanos().max(1)) as usize;
            c[i.min(n - 1)][x.host] += 1;
        }
    }
    c.iter().map(fair_x).collect()
}

fn max_f(v: impl IntoIterator<Item = f64>) -> f64 {
    v.into_iter()
        .filter(|x| !x.is_nan())
        .fold(f64::NAN, |a, b| if a.is_nan() || b > a { b } else { a })
}

fn in_band(x: f64) -> bool {
    x >= BAND.0 && x <= BAND.1
}

/// Host 0's "to fair": the first bucket in the band, and the start of the final run of
/// buckets in it (None if the last bucket is outside).
fn to_fair(b: &[[f64; SERVERS]], bucket: Duration) -> (Option<Duration>, Option<Duration>) {
    let first = b.iter().position(|x| in_band(x[0]));
    let mut settled = None;
    for i in (0..b.len()).rev() {
        if in_band(b[i][0]) {
            settled = Some(i);
        } else {
            break;
        }
    }
    let at = |i: usize| bucket * i as u32;
    (first.map(at), settled.map(at))
}

fn x(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else {
        format!("{v:.2}")
    }
}

fn secs(d: Option<Duration>) -> String {
    d.map_or("never".into(), |d| format!("{:.1}s", d.as_secs_f64()))
}

/// Host 0's multiples per bucket, phases separated by `|`.
fn timeline(phases: &[Vec<[f64; SERVERS]>]) -> String {
    phases
        .iter()
        .map(|p| {
            p.iter()
                .map(|b| format!("{:>4}", x(b[0])))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

/// The PASS/MISS lines, printed at the end.
#[derive(Default)]
struct Summary(Vec<String>);

impl Summary {
    fn check(&mut self, target: &str, strategy: &str, pass: bool, shown: String) {
        self.0.push(format!(
            "{}  {target:<62} {strategy:<17} {shown}",
            if pass { "PASS" } else { "MISS" }
        ));
    }
}

fn errors_note(r: &Run) -> String {
    let mut s = String::new();
    if r.stuck > 0 {
        write!(s, " ({} tasks did not stop within {BOUND:?})", r.stuck).ok();
    }
    if let Some(e) = r.first_errors.first() {
        write!(s, " e.g. {e}").ok();
    }
    s
}

// ---- scenarios --------------------------------------------------------------------------

fn query(strategy: &str, k: &Knobs, extra: &str) -> String {
    let mut q = format!("strategy={strategy}&socket_timeout=10s");
    if !k.hedge {
        q.push_str("&hedge=false");
    }
    if !extra.is_empty() {
        q.push('&');
        q.push_str(extra);
    }
    q
}

/// Parts 1 and 4.
async fn equal(sb: &Sandbox, k: &Knobs, strategies: &[String], pool: bool, sum: &mut Summary) {
    println!(
        "  {:<17} {:>8} {:>8} {:>7} {:>7} {:>5} {:>5} {:>5} {:>5} {:>11} {:>6}",
        "strategy",
        "stmts",
        "stmt/s",
        "mean ms",
        "max ms",
        "h0×",
        "h1×",
        "h2×",
        "max×",
        "max bucket×",
        "errors"
    );
    let mut notes = Vec::new();
    for s in strategies {
        let proxies = Proxies::start(sb).await;
        let opts = proxies.opts(&query(s, k, "autocommit_threshold=1"));
        let plan = Plan {
            total: k.equal,
            faults: vec![],
        };
        let r = run(&proxies, opts, k, pool, &plan).await;
        let c = counts(&r.samples, Duration::ZERO, k.equal);
        let f = fair_x(&c);
        let worst = max_f(f);
        let worst_bucket = max_f(
            buckets(&r.samples, Duration::ZERO, k.equal, k.bucket)
                .iter()
                .flatten()
                .copied(),
        );
        let n = r.samples.len();
        println!(
            "  {s:<17} {n:>8} {:>8.0} {:>7.3} {:>7.1} {:>5} {:>5} {:>5} {:>5} {:>11} {:>6}{}",
            n as f64 / k.equal.as_secs_f64(),
            mean_ms(&r.samples, Duration::ZERO, k.equal),
            max_ms(&r.samples, Duration::ZERO, k.equal),
            x(f[0]),
            x(f[1]),
            x(f[2]),
            x(worst),
            x(worst_bucket),
            r.errors,
            errors_note(&r)
        );
        let what = if pool {
            "pool, equal hosts: max host ≤ 1.5× fair"
        } else {
            "equal hosts: max host ≤ 1.5× fair"
        };
        sum.check(what, s, worst <= 1.5, format!("{}×{}", x(worst), noisy(&r)));
        notes.push(format!("    {s:<17} {}", slowest_note(&r)));
    }
    for n in notes {
        println!("{n}");
    }
}

/// Recovery figures of host 0 over `[from, to)`, printed as table cells; checks the targets.
fn recovery_cells(
    r: &Run,
    from: Duration,
    to: Duration,
    k: &Knobs,
    (scenario, strategy): (&str, &str),
    sum: &mut Summary,
) -> (String, Vec<[f64; SERVERS]>) {
    let b = buckets(&r.samples, from, to, k.bucket);
    let (first, settled) = to_fair(&b, k.bucket);
    let max0 = max_f(b.iter().map(|x| x[0]));
    let max_any = max_f(b.iter().flatten().copied());
    let h0 = fair_x(&counts(&r.samples, from, to))[0];
    let cells = format!(
        "{:>9} {:>14} {:>7} {:>8}",
        x(h0),
        format!("{}/{}", secs(first), secs(settled)),
        x(max0),
        x(max_any)
    );
    sum.check(
        &format!("{scenario}: host 0 settled in 0.8–1.2× ≤ 3 s"),
        strategy,
        settled.is_some_and(|d| d <= Duration::from_secs(3)),
        format!("{}{}", secs(settled), noisy(r)),
    );
    // NaN (no bucket answered) counts as a miss.
    sum.check(
        &format!("{scenario}: host 0 never above 2× per bucket"),
        strategy,
        max0 <= 2.0,
        format!("max {}×{}", x(max0), noisy(r)),
    );
    (cells, b)
}

/// Part 2.
async fn slowed(sb: &Sandbox, k: &Knobs, strategies: &[String], sum: &mut Summary) {
    let slow_at = k.warm;
    let back_at = k.warm + k.slow;
    let end = back_at + k.recover;
    println!(
        "  {:<17} {:>7} {:>7} {:>6} {:>7} {:>8} {:>9} {:>14} {:>7} {:>8} {:>6} {:>7}",
        "strategy",
        "ok ms",
        "slow ms",
        "ratio",
        "max ms",
        "h0× slow",
        "h0× after",
        "fair first/set",
        "max h0×",
        "max any×",
        "errors",
        "hedges"
    );
    let mut lines = Vec::new();
    for s in strategies {
        let proxies = Proxies::start(sb).await;
        let opts = proxies.opts(&query(s, k, "autocommit_threshold=1"));
        let plan = Plan {
            total: end,
            faults: vec![
                (slow_at, ProxyMode::Latency(k.latency)),
                (back_at, ProxyMode::Pass),
            ],
        };
        let r = run(&proxies, opts, k, false, &plan).await;
        let healthy = mean_ms(&r.samples, Duration::ZERO, slow_at);
        let slow = mean_ms(&r.samples, slow_at, back_at);
        let ratio = slow / healthy;
        let h0_slow = fair_x(&counts(&r.samples, slow_at, back_at))[0];
        let (cells, after) = recovery_cells(&r, back_at, end, k, ("slowed", s), sum);
        println!(
            "  {s:<17} {healthy:>7.3} {slow:>7.3} {ratio:>6.2} {:>7.1} {:>8} {cells} {:>6} {:>7}{}",
            max_ms(&r.samples, Duration::ZERO, end),
            x(h0_slow),
            r.errors,
            format!("{}/{}", r.hedges.0, r.hedges.1),
            errors_note(&r)
        );
        if s == "bestResponseTime" || s == "peakEwma" {
            sum.check(
                "slowed: mean latency slow/healthy ≤ 1.1",
                s,
                ratio <= 1.1,
                format!("{ratio:.2}{}", noisy(&r)),
            );
        }
        let phases = [
            buckets(&r.samples, Duration::ZERO, slow_at, k.bucket),
            buckets(&r.samples, slow_at, back_at, k.bucket),
            after,
        ];
        lines.push(format!(
            "    {s:<17} {}\n    {:<17} {}",
            timeline(&phases),
            "",
            events_note(&r)
        ));
    }
    println!(
        "  host 0 × fair per {:?} (healthy | +{:?} | recovered):",
        k.bucket, k.latency
    );
    for l in lines {
        println!("{l}");
    }
}

/// Part 3.
async fn blacklisted(sb: &Sandbox, k: &Knobs, strategies: &[String], sum: &mut Summary) {
    let down_at = k.warm;
    let back_at = k.warm + k.down;
    let end = back_at + k.after;
    println!(
        "  {:<17} {:>9} {:>7} {:>7} {:>8} {:>9} {:>14} {:>7} {:>8} {:>11}",
        "strategy",
        "threshold",
        "max ms",
        "errors",
        "h0× down",
        "h0× after",
        "fair first/set",
        "max h0×",
        "max any×",
        "handles end"
    );
    let mut lines = Vec::new();
    for (threshold, extra) in [("1", "autocommit_threshold=1"), ("default", "")] {
        for s in strategies {
            let proxies = Proxies::start(sb).await;
            let extra = if extra.is_empty() {
                format!("blacklist_timeout={}ms", k.blacklist.as_millis())
            } else {
                format!("{extra}&blacklist_timeout={}ms", k.blacklist.as_millis())
            };
            let opts = proxies.opts(&query(s, k, &extra));
            let plan = Plan {
                total: end,
                faults: vec![(down_at, ProxyMode::Reset), (back_at, ProxyMode::Pass)],
            };
            let r = run(&proxies, opts, k, false, &plan).await;
            let h0_down = fair_x(&counts(&r.samples, down_at, back_at))[0];
            let scenario = format!("blacklisted, threshold {threshold}");
            let (cells, after) = recovery_cells(&r, back_at, end, k, (&scenario, s), sum);
            println!(
                "  {s:<17} {threshold:>9} {:>7.1} {:>7} {:>8} {cells} {:>11}{}",
                max_ms(&r.samples, Duration::ZERO, end),
                r.errors,
                x(h0_down),
                format!("{:?}", &r.end_hosts[..SERVERS]),
                errors_note(&r)
            );
            let phases = [
                buckets(&r.samples, Duration::ZERO, down_at, k.bucket),
                buckets(&r.samples, down_at, back_at, k.bucket),
                after,
            ];
            lines.push(format!(
                "    {s:<17} {threshold:>7}  {}\n    {:<27}{}",
                timeline(&phases),
                "",
                events_note(&r)
            ));
        }
    }
    println!(
        "  host 0 × fair per {:?} (healthy | reset | recovered):",
        k.bucket
    );
    for l in lines {
        println!("{l}");
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let secs = |name, default| Duration::from_secs(env(name, default));
    let k = Knobs {
        tasks: env("TASKS", 8).max(1) as usize,
        equal: secs("SECS", 4),
        warm: secs("WARM", 2),
        slow: secs("SLOW", 4),
        recover: secs("RECOVER", 6),
        down: secs("DOWN", 3),
        after: secs("AFTER", 6),
        latency: Duration::from_millis(env("LATENCY_MS", 5)),
        bucket: Duration::from_millis(env("BUCKET_MS", 500).max(10)),
        blacklist: Duration::from_millis(env("BLACKLIST_MS", 1000)),
        prime: env("PRIME", 20) as usize,
        hedge: env("HEDGE", 0) != 0,
    };
    let parts = std::env::var("PARTS").unwrap_or_else(|_| "1234".into());
    let strategies: Vec<String> = std::env::var("STRATEGIES")
        .unwrap_or_else(|_| ALL_STRATEGIES.into())
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();

    let t = Instant::now();
    let sb = Sandbox::start(SERVERS).await.expect("sandbox");
    println!("== balance ==");
    println!(
        "sandbox: {SERVERS} servers started in {:.1?}, each behind a FaultProxy (new proxies per \
         run); tokio multi-thread, {} workers; load average at start: {}",
        t.elapsed(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg()
    );
    println!(
        "{} tasks of `{QUERY}`, each its own LoadBalancedConnection over one Balancer; URL \
         mysql:loadbalance://p0,p1,p2/?strategy=…&autocommit_threshold=1&socket_timeout=10s{}; \
         shares are × fair (1/3), buckets {:?}; each task runs {} statements before the clock \
         starts",
        k.tasks,
        if k.hedge { "" } else { "&hedge=false" },
        k.bucket,
        k.prime,
    );
    let mut sum = Summary::default();
    if parts.contains('1') {
        println!(
            "\n1. equal hosts, {:?} (target: no host above 1.5×):",
            k.equal
        );
        equal(&sb, &k, &strategies, false, &mut sum).await;
    }
    if parts.contains('2') {
        println!(
            "\n2. host 0 slowed by {:?} per round trip: healthy {:?}, slow {:?}, recovered {:?} \
             (ok/slow ms: mean latency healthy/slow; targets: ratio ≤ 1.1 for bestResponseTime \
             and peakEwma, settled ≤ 3 s, max h0× ≤ 2):",
            k.latency, k.warm, k.slow, k.recover
        );
        slowed(&sb, &k, &strategies, &mut sum).await;
    }
    if parts.contains('3') {
        println!(
            "\n3. host 0 resetting every connection: healthy {:?}, reset {:?}, recovered {:?}; \
             blacklist_timeout={:?}; autocommit_threshold=1, then the default (targets: settled \
             ≤ 3 s, max h0× ≤ 2; handles end: handles per host 0/1/2 at the end):",
            k.warm, k.down, k.after, k.blacklist
        );
        blacklisted(&sb, &k, &strategies, &mut sum).await;
    }
    if parts.contains('4') {
        println!(
            "\n4. equal hosts through a LoadBalancedPool, {:?}, get_conn + `{QUERY}` + drop \
             (target: no host above 1.5×):",
            k.equal
        );
        equal(&sb, &k, &strategies, true, &mut sum).await;
    }
    println!("\nload average at end: {}", loadavg());
    println!("\n==== summary ====");
    for l in &sum.0 {
        println!("{l}");
    }
}
