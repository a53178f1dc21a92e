//! What the library costs the client per statement, next to plain `mysql_async`: statements
//! per second and the bench process's CPU time per statement. Prints figures; asserts nothing.
//!
//! The two run one after the other on the same three servers, never side by side, in
//! alternating rounds (plain, lb, plain, lb, ...), after one unmeasured warm-up round of each.
//! A plain round: `TASKS` tasks, each with its own `mysql_async::Conn` to server `t % 3`,
//! looping `query_drop("SELECT 1")`. An lb round: `TASKS` tasks, each with a
//! `LoadBalancedConnection` from one shared round-robin `Balancer` (so they spread over the
//! servers as the plain ones do), running the very same loop (one generic function).
//! Connections are opened before a round's clock starts and closed after it stops.
//!
//! CPU is `getrusage(RUSAGE_SELF)` user + system, read right before the tasks are released
//! and right after they have all stopped: every thread of this process, and nothing else.
//! The MariaDB servers are separate processes (children, never waited for during a round, so
//! not even in `RUSAGE_CHILDREN`); their CPU is read from `/proc/<pid>/stat` and shown apart.
//!
//! `cargo bench --bench overhead`; env: `TASKS` (default 8), `SECS` per round (default 3),
//! `ROUNDS` of each kind (default 6), `WARMUP` seconds (default 1), `MODE` (a label), `ONLY`
//! (`plain` or `lb`: run one kind, to profile it with `perf record -p`).
//! `LB_METRICS=1` with `--features metrics` installs a Prometheus recorder first; its
//! `run_upkeep` (which drains the statement histograms) runs at the end of every round,
//! inside the CPU window, so that its cost lands in the round that caused it.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Instructions, cpu_self, env, loadavg, median};
use mysql_async::prelude::Queryable;
use mysql_lb::{Balancer, LbOpts, LoadBalancedConnection};
use mysql_lb_sandbox::{PASSWORD, Sandbox, USER};

const QUERY: &str = "SELECT 1";
const SERVERS: usize = 3;

/// User + system CPU time of another process, from `/proc/<pid>/stat` (clock ticks).
fn cpu_of(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name's closing parenthesis start at field 3 (state);
    // utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(Duration::from_nanos(ticks * 1_000_000_000 / hz))
}

fn servers_cpu(sb: &Sandbox) -> Duration {
    (0..sb.len())
        .filter_map(|i| sb.pid(i).and_then(cpu_of))
        .sum()
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Plain,
    Lb,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Plain => "plain",
            Kind::Lb => "lb",
        }
    }
}

struct Round {
    statements: u64,
    wall: Duration,
    cpu: Duration,
    servers: Duration,
    /// User-space instructions of the whole process (`None`: no counters here).
    instructions: Option<u64>,
}

impl Round {
    fn rate(&self) -> f64 {
        self.statements as f64 / self.wall.as_secs_f64()
    }
    fn cpu_us(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.statements as f64
    }
    fn instructions(&self) -> Option<f64> {
        self.instructions.map(|n| n as f64 / self.statements as f64)
    }
    fn servers_us(&self) -> f64 {
        self.servers.as_secs_f64() * 1e6 / self.statements as f64
    }
}

/// Runs the loop on every connection for `dur` and returns them with the round's figures.
/// The same code for both kinds: only the connection type differs.
async fn run<C>(sb: &Sandbox, conns: Vec<C>, dur: Duration, upkeep: &dyn Fn()) -> (Vec<C>, Round)
where
    C: Queryable + 'static,
{
    let go = Arc::new(tokio::sync::Barrier::new(conns.len() + 1));
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for mut c in conns {
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
    let counters = Instructions::start();
    let instr0 = counters.as_ref().map(Instructions::read);
    let (servers0, cpu0, t0) = (servers_cpu(sb), cpu_self(), Instant::now());
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
    upkeep();
    let cpu = cpu_self() - cpu0;
    let instructions = counters
        .as_ref()
        .zip(instr0)
        .map(|(c, i0)| c.read().saturating_sub(i0));
    let servers = servers_cpu(sb).saturating_sub(servers0);
    (
        conns,
        Round {
            statements,
            wall,
            cpu,
            servers,
            instructions,
        },
    )
}

async fn round(
    kind: Kind,
    sb: &Sandbox,
    balancer: &Arc<Balancer>,
    tasks: usize,
    dur: Duration,
    upkeep: &dyn Fn(),
) -> Round {
    match kind {
        Kind::Plain => {
            let mut conns = Vec::new();
            for t in 0..tasks {
                conns.push(
                    mysql_async::Conn::new(sb.opts(t % sb.len()))
                        .await
                        .expect("connect"),
                );
            }
            let (conns, r) = run(sb, conns, dur, upkeep).await;
            for c in conns {
                c.disconnect().await.expect("disconnect");
            }
            r
        }
        Kind::Lb => {
            let mut conns = Vec::new();
            for _ in 0..tasks {
                conns.push(
                    LoadBalancedConnection::connect_with(balancer.clone())
                        .await
                        .expect("connect"),
                );
            }
            let (conns, r) = run(sb, conns, dur, upkeep).await;
            for c in conns {
                c.disconnect().await;
            }
            r
        }
    }
}

fn range(v: &[f64]) -> (f64, f64) {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (lo, hi)
}

fn k(rate: f64) -> String {
    format!("{:.1}k", rate / 1000.0)
}

/// The Prometheus recorder, when asked for (`LB_METRICS=1`, feature `metrics`).
#[cfg(feature = "metrics")]
type Recorder = Option<metrics_exporter_prometheus::PrometheusHandle>;
#[cfg(not(feature = "metrics"))]
type Recorder = Option<()>;

fn install_recorder() -> Recorder {
    if std::env::var("LB_METRICS").as_deref() != Ok("1") {
        return None;
    }
    #[cfg(feature = "metrics")]
    {
        let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .expect("install the Prometheus recorder");
        Some(handle)
    }
    #[cfg(not(feature = "metrics"))]
    {
        eprintln!(
            "error: LB_METRICS=1 needs the crate's `metrics` feature \
             (cargo bench --features metrics --bench overhead)"
        );
        std::process::exit(2);
    }
}

fn main() {
    let tasks = env("TASKS", 8) as usize;
    let dur = Duration::from_secs(env("SECS", 3));
    let rounds = env("ROUNDS", 6) as usize;
    let warmup = Duration::from_secs(env("WARMUP", 1));
    let mode = std::env::var("MODE").unwrap_or_else(|_| "unlabelled".into());

    // Before any statement: per-host handles are registered at a host's first statement.
    let recorder = install_recorder();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let t = Instant::now();
        let sb = Sandbox::start(SERVERS).await.expect("sandbox");
        let pids: Vec<String> = (0..sb.len())
            .map(|i| sb.pid(i).map_or("?".into(), |p| p.to_string()))
            .collect();
        println!("== overhead, MODE={mode} ==");
        println!(
            "sandbox: {SERVERS} servers started in {:.1?}; bench pid {}, server pids {} \
             (separate processes: not in this process's getrusage)",
            t.elapsed(),
            std::process::id(),
            pids.join(", ")
        );
        println!(
            "tokio: multi-thread, 2 workers; {tasks} tasks of `{QUERY}` per round; \
             {rounds} rounds of each kind, {dur:?} each, alternating plain/lb, \
             after a {warmup:?} warm-up of each (not counted)"
        );
        println!(
            "spans: one `mysql_lb.statement` span per lb statement, compiled in; no tracing \
             subscriber installed, so they are disabled at the callsite"
        );
        #[cfg(feature = "metrics")]
        let upkeep_fn = || {
            if let Some(h) = &recorder {
                h.run_upkeep();
            }
        };
        #[cfg(not(feature = "metrics"))]
        let upkeep_fn = || {};
        match (&recorder, cfg!(feature = "metrics")) {
            (Some(_), _) => println!(
                "metrics: feature on, Prometheus recorder installed (upkeep at each round's \
                 end, inside the CPU window)"
            ),
            (None, true) => println!("metrics: feature on, no recorder installed"),
            (None, false) => println!("metrics: feature off"),
        }
        println!("load average at start: {}", loadavg());

        let hosts: Vec<String> = (0..sb.len())
            .map(|i| format!("127.0.0.1:{}", sb.port(i)))
            .collect();
        let opts: LbOpts = format!(
            "mysql://{USER}:{PASSWORD}@{}/?strategy=roundRobin",
            hosts.join(",")
        )
        .parse()
        .expect("bench URL");
        let balancer = Balancer::new(opts);

        // Where the balanced handles land (the plain ones: 3, 3, 2 for 8 tasks).
        {
            let mut per = vec![0usize; sb.len()];
            let mut conns = Vec::new();
            for _ in 0..tasks {
                let c = LoadBalancedConnection::connect_with(balancer.clone())
                    .await
                    .expect("connect");
                let host = c.current_host().expect("connected").to_string();
                if let Some(i) = hosts.iter().position(|h| *h == host) {
                    per[i] += 1;
                }
                conns.push(c);
            }
            for c in conns {
                c.disconnect().await;
            }
            let plain: Vec<usize> = (0..sb.len())
                .map(|i| (0..tasks).filter(|t| t % sb.len() == i).count())
                .collect();
            println!("spread over the servers: plain {plain:?}, lb {per:?}");
        }

        for kind in [Kind::Plain, Kind::Lb] {
            let r = round(kind, &sb, &balancer, tasks, warmup, &upkeep_fn).await;
            println!(
                "  warm-up {:<5} {:>8.0} stmt/s  {:>6.2} µs CPU/stmt",
                kind.name(),
                r.rate(),
                r.cpu_us()
            );
        }

        let mut plain = Vec::new();
        let mut lb = Vec::new();
        let only = std::env::var("ONLY").ok();
        let kinds: Vec<Kind> = [Kind::Plain, Kind::Lb]
            .into_iter()
            .filter(|k| only.as_deref().is_none_or(|o| o == k.name()))
            .collect();
        for i in 0..rounds {
            for &kind in &kinds {
                let r = round(kind, &sb, &balancer, tasks, dur, &upkeep_fn).await;
                println!(
                    "  round {i} {:<5} {:>9} stmts in {:.3}s  {:>8.0} stmt/s  \
                     {:>6.2} µs CPU/stmt (client {:.2} cores)  {} instr/stmt  \
                     servers {:>6.2} µs/stmt",
                    kind.name(),
                    r.statements,
                    r.wall.as_secs_f64(),
                    r.rate(),
                    r.cpu_us(),
                    r.cpu.as_secs_f64() / r.wall.as_secs_f64(),
                    r.instructions().map_or("?".into(), |n| format!("{n:.0}")),
                    r.servers_us()
                );
                match kind {
                    Kind::Plain => plain.push(r),
                    Kind::Lb => lb.push(r),
                }
            }
        }

        println!("load average at end: {}", loadavg());
        if only.is_some() {
            return;
        }
        println!("summary, MODE={mode} (median, min–max over {rounds} rounds):");
        for (name, rs) in [("plain", &plain), ("lb", &lb)] {
            let rates: Vec<f64> = rs.iter().map(Round::rate).collect();
            let cpus: Vec<f64> = rs.iter().map(Round::cpu_us).collect();
            let srv: Vec<f64> = rs.iter().map(Round::servers_us).collect();
            let (rl, rh) = range(&rates);
            let (cl, ch) = range(&cpus);
            println!(
                "  {name:<5}  {} stmt/s ({}–{})  {:.2} µs CPU/stmt ({:.2}–{:.2})  \
                 servers {:.1} µs/stmt",
                k(median(rates.clone())),
                k(rl),
                k(rh),
                median(cpus.clone()),
                cl,
                ch,
                median(srv)
            );
        }
        // Pairwise: round i's lb against round i's plain, which ran just before it.
        let ratios: Vec<f64> = plain
            .iter()
            .zip(&lb)
            .map(|(p, l)| l.rate() / p.rate())
            .collect();
        let diffs: Vec<f64> = plain
            .iter()
            .zip(&lb)
            .map(|(p, l)| l.cpu_us() - p.cpu_us())
            .collect();
        let (al, ah) = range(&ratios);
        let (dl, dh) = range(&diffs);
        let mp = median(plain.iter().map(Round::cpu_us).collect());
        let ml = median(lb.iter().map(Round::cpu_us).collect());
        println!(
            "  lb/plain throughput  {:.3} (pairs {:.3}–{:.3})",
            median(ratios.clone()),
            al,
            ah
        );
        println!(
            "  lb−plain CPU         {:+.2} µs/stmt (pairs {:+.2}–{:+.2}; {:+.1}% of plain's)",
            median(diffs.clone()),
            dl,
            dh,
            (ml - mp) / mp * 100.0
        );
        let instr: Vec<f64> = plain
            .iter()
            .zip(&lb)
            .filter_map(|(p, l)| Some(l.instructions()? - p.instructions()?))
            .collect();
        if !instr.is_empty() {
            let (il, ih) = range(&instr);
            let ip = median(plain.iter().filter_map(Round::instructions).collect());
            println!(
                "  lb−plain instr      {:+.0} user instructions/stmt (pairs {:+.0}–{:+.0}; plain {:.0})",
                median(instr),
                il,
                ih,
                ip
            );
        }

        #[cfg(feature = "metrics")]
        if let Some(h) = &recorder {
            let text = h.render();
            let statements = text
                .lines()
                .filter(|l| l.starts_with("mysql_lb_statements_total"))
                .collect::<Vec<_>>()
                .join("; ");
            println!(
                "prometheus: {} lines rendered; {statements}",
                text.lines().count()
            );
        }
        drop(sb);
    });
}
