//! A deterministic simulator of `mysql_lb` at scale: 1,000 client processes balancing over
//! 50 replicas, in virtual time, with the library's own picking, blacklist and slow-start
//! code. No server, no socket, no sleeping.
//!
//! ```sh
//! cargo run -p mysql-lb --release --example simulate     # tables, and docs/sim-*.svg
//! cargo run -p mysql-lb --release --example simulate -- --seed 7 --no-charts
//! cargo run -p mysql-lb --release --example simulate -- --service lognormal --no-charts
//! ```
//!
//! **What is the library's** (called, not re-implemented): each simulated process is one
//! [`Balancer`] built from a URL listing the 50 replicas with `strategy=...`, with its own
//! [`Blacklist`]; every request asks [`Balancer::pick_host`] (the strategy, honouring the
//! blacklist, admitting one probe when an entry has expired); every completed request feeds
//! [`HostStats::observe`] (the peak-EWMA estimate, staleness, recovery detection); a refused
//! request calls [`Blacklist::add`] with the URL's `blacklist_timeout`, as
//! `Balancer::mark_failed` does (jitter included); a successful probe calls
//! [`Blacklist::remove`], which slow-starts the host. Every random draw of the library comes
//! from [`mysql_lb::seed_thread_rng`] (the simulation runs on the one thread of a
//! current-thread runtime), the workload's from generators seeded from the same seed: a seed
//! replays exactly (the last line printed is a digest of all results). Time is tokio's
//! paused clock, advanced 1 ms per step, so the library's `Instant::now()` is simulated time.
//!
//! **The model:**
//! - Host stats are process-wide in the library, keyed by host:port, so each simulated
//!   process names the replicas differently (replica `j` of process `p` is
//!   `p{p}:{10000 + j}`): 1,000 processes keep 1,000 separate views, as real ones do.
//! - Each process sends a Poisson stream of requests (`--rates`, per process; 20/s and
//!   200/s); each request picks a host, as a pool checkout or a rebalance at every statement
//!   would, is served, and its time recorded when it completes. Arrivals are the same for
//!   every strategy (their own generator), so the strategies are compared on one workload.
//! - A replica is a server with a FIFO queue and as many workers as make its fair share
//!   [`UTILIZATION`] (10 %) of its capacity; a service takes 1 ms on average (uniform ±25 %,
//!   or log-normal with `--service lognormal`). A replica that gets more than it can take
//!   queues, and its times grow: what the latency-aware strategies must see.
//! - A dead replica refuses at once: the pick that hit it blacklists it and the request
//!   picks again at once (a connect's next candidate). In scenario (a) every process
//!   blacklists it in the same millisecond (its pooled connections all broke): the worst case
//!   for a herd when the entries expire.
//! - Every process starts at t = 0, as after a fleet-wide deploy.
//!
//! **Not modelled:** pools and their checkout order, connect times and the stagger of slow
//! connects, in-flight counts (`HostStats::start` is private to the library, so peakEwma's
//! load term stays 0 here and it ranks by latency alone), hedging, timeouts, a restarted
//! server being slower while cold, the network. The clock's resolution is the 1 ms step: a
//! request's arrival and completion are seen by the library at the start of their step.
//!
//! The stats registry and the blacklists never forget a host, so each (scenario, strategy,
//! rate) runs in a child process of this program (`--child`), `--jobs` at a time (the CPUs);
//! the parent collects their JSON, prints the tables and draws the charts. Each child holds
//! 50,000 `HostStats` and `Balancer` hosts, about 130 MB. See `docs/simulation.md` for the
//! figures and what they show.

use std::error::Error;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mysql_lb::{Balancer, Blacklist, HostAddr, HostStats, LbOpts, seed_thread_rng};
use plotters::coord::Shift;
use plotters::prelude::*;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// Replicas every process balances over.
const REPLICAS: usize = 50;
/// Replica `j` of every process listens on this port plus `j` (the host name tells the
/// processes apart).
const BASE_PORT: u16 = 10_000;
/// The strategies compared (the balancing ones; `sequential` and `serverAffinity` send
/// everything to one host by design).
const STRATEGIES: [&str; 4] = ["random", "roundRobin", "bestResponseTime", "peakEwma"];
/// A replica's size: it has as many workers (requests served at once; more wait in its
/// queue) as make its fair share of the load this fraction of its capacity. 10 %: 4 workers
/// at 20 requests/s per process (400/s per replica), 40 at 200/s; twice the fair share is
/// still light, and the slow replica of (c) (5x the service time) is at 50 % under its fair
/// share, loaded but stable, so that (c) compares strategies, not a queue that grows without
/// bound.
const UTILIZATION: f64 = 0.1;
/// A healthy replica's mean service time, in µs (see [`Service`] for its spread).
const SERVICE_US: f64 = 1_000.0;
/// The simulation step: the clock advances this much at a time.
const STEP: Duration = Duration::from_millis(1);
/// Buckets of the share-over-time figures and of the per-process ramp.
const BUCKET_MS: u64 = 250;
const PROBE_BUCKET_MS: u64 = 100;
/// The replica that dies (a), comes back (b) or slows down (c); its neighbour in the list.
const VICTIM: usize = 24;
const NEIGHBOUR: usize = VICTIM + 1;

/// Scenario (a)+(b), one run: healthy until `AB_DEATH` (estimates warm), the victim dies and
/// every process blacklists it at once; it is back at `AB_BACK`, before any entry expires
/// (they expire 8-10 s after the death); the run goes on long enough for the stragglers to
/// pick it once after their expiry.
const AB_DEATH: u64 = 3_000;
const AB_BACK: u64 = 8_000;
const AB_END: u64 = 24_000;
/// How long after its own probe a process's view is followed (slow start is 2 s).
const RAMP_MS: u64 = 3_000;

/// Scenario (c): healthy until `C_SLOW`, the victim 5x slower until `C_FAST`, then healthy.
const C_SLOW: u64 = 4_000;
const C_FAST: u64 = 12_000;
const C_END: u64 = 20_000;
const SLOW_FACTOR: f64 = 5.0;
/// Phases measured in (c), skipping the first moments after each change.
const C_HEALTHY: (u64, u64) = (1_000, C_SLOW);
const C_SLOWED: (u64, u64) = (C_SLOW + 500, C_FAST);
const C_AFTER: (u64, u64) = (C_FAST + 4_000, C_END);

struct Args {
    seed: u64,
    processes: usize,
    rates: Vec<f64>,
    jobs: usize,
    out: Option<PathBuf>,
    child: Option<String>,
    service: Service,
    /// Charts as PNG instead of SVG.
    png: bool,
}

/// How service times vary around their mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Service {
    /// Uniform within ±25 % of the mean.
    Uniform,
    /// Log-normal, σ = 0.5 (median 0.88 ms, p99 2.8 ms for a 1 ms mean): a tail, as real
    /// statement times have.
    Lognormal,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::Uniform => "uniform",
            Service::Lognormal => "lognormal",
        }
    }
}

fn usage() -> String {
    "usage: simulate [--seed N] [--processes N] [--rates 20,200] [--service uniform|lognormal]\n\
     \x20               [--jobs N] [--out DIR | --no-charts] [--png]\n\
     (--child SCENARIO:STRATEGY:RATE runs one simulation and prints its JSON)"
        .to_owned()
}

fn parse_args() -> Res<Args> {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
    let mut a = Args {
        seed: 1,
        processes: 1_000,
        rates: vec![20.0, 200.0],
        jobs: std::thread::available_parallelism().map_or(2, |n| n.get()),
        out: Some(docs),
        child: None,
        service: Service::Uniform,
        png: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{flag} needs a value\n{}", usage()))
        };
        match flag.as_str() {
            "--seed" => a.seed = value()?.parse()?,
            "--processes" => a.processes = value()?.parse()?,
            "--rates" => {
                a.rates = value()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            "--jobs" => a.jobs = value()?.parse::<usize>()?.max(1),
            "--out" => a.out = Some(value()?.into()),
            "--no-charts" => a.out = None,
            "--png" => a.png = true,
            "--child" => a.child = Some(value()?),
            "--service" => {
                a.service = match value()?.as_str() {
                    "uniform" => Service::Uniform,
                    "lognormal" => Service::Lognormal,
                    other => return Err(format!("--service `{other}`\n{}", usage()).into()),
                }
            }
            "-h" | "--help" => {
                println!("{}", usage());
                std::process::exit(0);
            }
            _ => return Err(format!("unknown argument `{flag}`\n{}", usage()).into()),
        }
    }
    if a.rates.is_empty() || a.rates.iter().any(|r| r.is_nan() || *r <= 0.0) || a.processes == 0 {
        return Err(format!("rates and processes must be positive\n{}", usage()).into());
    }
    Ok(a)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("simulate: {e}");
        std::process::exit(2);
    }
}

fn run() -> Res<()> {
    let args = parse_args()?;
    if let Some(job) = &args.child {
        let job: Job = job.parse()?;
        let json = run_child(&job, args.seed, args.processes, args.service)?;
        println!("{json}");
        return Ok(());
    }
    let jobs: Vec<Job> = [Scenario::DeathAndReturn, Scenario::Slow]
        .into_iter()
        .flat_map(|scenario| {
            args.rates.iter().flat_map(move |&rate| {
                STRATEGIES.iter().map(move |s| Job {
                    scenario,
                    strategy: s.to_string(),
                    rate,
                })
            })
        })
        .collect();
    let started = std::time::Instant::now();
    let outputs = run_children(&jobs, &args)?;
    eprintln!(
        "{} simulations in {:.1} s wall",
        jobs.len(),
        started.elapsed().as_secs_f64()
    );
    let mut ab = Vec::new();
    let mut c = Vec::new();
    for (job, out) in jobs.iter().zip(&outputs) {
        match job.scenario {
            Scenario::DeathAndReturn => ab.push(serde_json::from_str::<AbResult>(out)?),
            Scenario::Slow => c.push(serde_json::from_str::<CResult>(out)?),
        }
    }
    let report = report(&args, &ab, &c);
    print!("{report}");
    // A digest of everything printed and charted: two runs with one seed print the same.
    println!(
        "digest of all results: {:016x}",
        fnv(outputs.iter().flat_map(|o| o.bytes()))
    );
    if let Some(dir) = &args.out {
        font()?;
        std::fs::create_dir_all(dir)?;
        let ext = if args.png { "png" } else { "svg" };
        chart_a(&dir.join(format!("sim-a-death.{ext}")), &ab)?;
        chart_b(&dir.join(format!("sim-b-return.{ext}")), &ab)?;
        chart_c(&dir.join(format!("sim-c-slow.{ext}")), &c)?;
        eprintln!("charts in {}", dir.display());
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    /// (a) and (b): a replica dies, then comes back.
    DeathAndReturn,
    /// (c): a replica is slow for a while.
    Slow,
}

/// One simulation: a scenario under one strategy at one rate per process.
#[derive(Clone, Debug)]
struct Job {
    scenario: Scenario,
    strategy: String,
    rate: f64,
}

impl std::str::FromStr for Job {
    type Err = String;
    fn from_str(s: &str) -> Result<Job, String> {
        let mut parts = s.split(':');
        let (Some(sc), Some(strategy), Some(rate), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(format!("--child `{s}`: SCENARIO:STRATEGY:RATE"));
        };
        let scenario = match sc {
            "ab" => Scenario::DeathAndReturn,
            "c" => Scenario::Slow,
            _ => return Err(format!("scenario `{sc}`: ab or c")),
        };
        let rate = rate.parse().map_err(|e| format!("rate `{rate}`: {e}"))?;
        Ok(Job {
            scenario,
            strategy: strategy.to_owned(),
            rate,
        })
    }
}

impl std::fmt::Display for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sc = match self.scenario {
            Scenario::DeathAndReturn => "ab",
            Scenario::Slow => "c",
        };
        write!(f, "{sc}:{}:{}", self.strategy, self.rate)
    }
}

/// Runs every job in a child process of this program, `args.jobs` at a time; their stdout,
/// in the jobs' order (so the report does not depend on which finished first).
fn run_children(jobs: &[Job], args: &Args) -> Res<Vec<String>> {
    let exe = std::env::current_exe()?;
    let next = AtomicUsize::new(0);
    let mut outputs: Vec<Option<Res<String>>> = (0..jobs.len()).map(|_| None).collect();
    let slots: Vec<std::sync::Mutex<&mut Option<Res<String>>>> =
        outputs.iter_mut().map(std::sync::Mutex::new).collect();
    std::thread::scope(|s| {
        for _ in 0..args.jobs.min(jobs.len()) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    let out = std::process::Command::new(&exe)
                        .args(["--child", &job.to_string()])
                        .args(["--seed", &args.seed.to_string()])
                        .args(["--processes", &args.processes.to_string()])
                        .args(["--service", args.service.name()])
                        .stderr(std::process::Stdio::inherit())
                        .output();
                    let r: Res<String> = match out {
                        Ok(o) if o.status.success() => {
                            String::from_utf8(o.stdout).map_err(Into::into)
                        }
                        Ok(o) => Err(format!("simulation {job} failed: {}", o.status).into()),
                        Err(e) => Err(e.into()),
                    };
                    **slots[i].lock().unwrap() = Some(r);
                }
            });
        }
    });
    drop(slots);
    outputs
        .into_iter()
        .map(|o| o.unwrap_or_else(|| Err("a simulation did not run".into())))
        .collect()
}

/// FNV-1a, for the digest line.
fn fnv(bytes: impl Iterator<Item = u8>) -> u64 {
    bytes.fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Derives independent seeds from the run's seed (splitmix64 of a mix).
fn derive(seed: u64, what: &str) -> u64 {
    let mut z = seed ^ fnv(what.bytes());
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

// ---------------------------------------------------------------------------------------
// One simulation (a child process).

/// What happens to the replicas, and what is recorded, in one scenario.
trait Scene {
    /// Whether the run is over at `now_ms`.
    fn done(&self, now_ms: u64) -> bool;
    /// Called at the start of each step, before anything else (a death is seen here).
    fn at(&mut self, _now_ms: u64, _world: &mut World) {}
    /// Whether replica `j` accepts connections now.
    fn alive(&self, _j: usize, _now_ms: u64) -> bool {
        true
    }
    /// Its service time as a multiple of a healthy one's.
    fn slowdown(&self, _j: usize, _now_ms: u64) -> f64 {
        1.0
    }
    /// A request of process `p` was served by `j`, taking `latency_us`.
    fn served(&mut self, p: usize, j: usize, now_ms: u64, latency_us: u64);
    /// Process `p` found `j` down (`probe`: it was its probe after an expiry).
    fn failed(&mut self, _p: usize, _j: usize, _now_ms: u64, _probe: bool) {}
    /// Process `p`'s probe of `j` succeeded (it is off that process's blacklist).
    fn probed(&mut self, _p: usize, _j: usize, _now_ms: u64) {}
    /// Process `p` had no host to pick (all blacklisted).
    fn unserved(&mut self) {}
}

/// The processes and the replicas.
struct World {
    balancers: Vec<Arc<Balancer>>,
    /// `stats[p][j]`: process `p`'s stats of replica `j` (the same `Arc` its balancer reads).
    stats: Vec<Vec<Arc<HostStats>>>,
    /// The replicas process `p` put on its blacklist and has not taken off (bit `j`): a pick
    /// that returns one of them is that process's probe after the entry expired.
    listed: Vec<u64>,
    timeout: Duration,
    decay: Duration,
    /// Each replica's workers: when each is free next, in µs of simulated time.
    replicas: Vec<Vec<u64>>,
    /// Next request of each process, (µs, process), in a calendar of 1 ms slots (slot = ms
    /// modulo its length; a heap of 1,000 entries popped 200,000 times a simulated second
    /// was a fifth of the run time).
    arrivals: Calendar<(u64, u32)>,
    /// Requests being served: (µs done, process, replica, latency µs).
    completions: Calendar<(u64, u32, u16, u64)>,
    /// Arrivals are drawn apart from service times so that every strategy sees the very same
    /// request times (common random numbers: differences are the strategies').
    arrival_rng: SmallRng,
    service_rng: SmallRng,
    service: Service,
    mean_gap_us: f64,
}

impl World {
    fn new(job: &Job, seed: u64, processes: usize, service: Service) -> Res<World> {
        let mut balancers = Vec::with_capacity(processes);
        let mut stats = Vec::with_capacity(processes);
        let mut opts0 = None;
        for p in 0..processes {
            let hosts: Vec<String> = (0..REPLICAS)
                .map(|j| format!("p{p}:{}", usize::from(BASE_PORT) + j))
                .collect();
            let url = format!("mysql://sim@{}/?strategy={}", hosts.join(","), job.strategy);
            let opts: LbOpts = url.parse()?;
            stats.push(
                (0..REPLICAS)
                    .map(|j| HostStats::of(&addr(p, j)))
                    .collect::<Vec<_>>(),
            );
            opts0.get_or_insert_with(|| opts.clone());
            // Its own blacklist: processes do not share one.
            balancers.push(Balancer::with_blacklist(opts, Arc::new(Blacklist::new())));
        }
        let opts0 = opts0.expect("at least one process");
        let mut arrival_rng =
            SmallRng::seed_from_u64(derive(seed, &format!("arrivals {}", job.rate)));
        let mean_gap_us = 1e6 / job.rate;
        let mut arrivals = Calendar::default();
        for p in 0..processes {
            let first = exponential(&mut arrival_rng, mean_gap_us);
            arrivals.push(0, first, (first, p as u32));
        }
        Ok(World {
            balancers,
            stats,
            listed: vec![0; processes],
            timeout: opts0.blacklist_timeout(),
            decay: opts0.latency_decay(),
            replicas: vec![vec![0; workers(processes, job.rate)]; REPLICAS],
            arrivals,
            completions: Calendar::default(),
            arrival_rng,
            service_rng: SmallRng::seed_from_u64(derive(seed, &format!("service {job}"))),
            service,
            mean_gap_us,
        })
    }

    async fn run(&mut self, scene: &mut dyn Scene) {
        let mut now_ms = 0;
        while !scene.done(now_ms) {
            scene.at(now_ms, self);
            // Completions first: a statement that finished in this step is known to the
            // picks of this step.
            for (_, p, j, latency) in self.completions.take(now_ms) {
                // A replica that died meanwhile never answers.
                if scene.alive(usize::from(j), now_ms) {
                    self.stats[p as usize][usize::from(j)]
                        .observe(Duration::from_micros(latency), self.decay);
                }
            }
            // A process's next request may fall in this same millisecond: taken again until
            // none is left.
            loop {
                let due = self.arrivals.take(now_ms);
                if due.is_empty() {
                    break;
                }
                for (at, p) in due {
                    self.request(p as usize, now_ms, at, scene);
                    let next = at + exponential(&mut self.arrival_rng, self.mean_gap_us);
                    self.arrivals.push(now_ms, next, (next, p));
                }
            }
            tokio::time::advance(STEP).await;
            now_ms += 1;
        }
    }

    /// One request of process `p`: pick, and on a refused host blacklist it and pick again
    /// at once (a connect's next candidate), as many times as there are hosts.
    fn request(&mut self, p: usize, now_ms: u64, at_us: u64, scene: &mut dyn Scene) {
        let balancer = self.balancers[p].clone();
        for _ in 0..=REPLICAS {
            let Some(host) = balancer.pick_host() else {
                scene.unserved();
                return;
            };
            let j = usize::from(host.port() - BASE_PORT);
            let probe = self.listed[p] & (1 << j) != 0;
            if !scene.alive(j, now_ms) {
                // What `Balancer::mark_failed` does with a refused connect.
                balancer
                    .blacklist()
                    .add(host, self.timeout, "connection refused (simulated)");
                self.listed[p] |= 1 << j;
                scene.failed(p, j, now_ms, probe);
                continue;
            }
            if probe {
                // The probe's connect succeeded: off the blacklist, and the host slow-starts.
                balancer.blacklist().remove(host);
                self.listed[p] &= !(1 << j);
                scene.probed(p, j, now_ms);
            }
            let latency = self.serve(j, at_us, scene.slowdown(j, now_ms));
            let done = at_us + latency;
            self.completions
                .push(now_ms, done, (done, p as u32, j as u16, latency));
            scene.served(p, j, now_ms, latency);
            return;
        }
    }

    /// Replica `j` takes a request arriving at `at_us`: the first free worker serves it
    /// (FIFO: requests arrive here in time order); returns its latency in µs.
    fn serve(&mut self, j: usize, at_us: u64, slowdown: f64) -> u64 {
        let noise = match self.service {
            Service::Uniform => self.service_rng.random_range(0.75..1.25),
            Service::Lognormal => {
                // Box-Muller; μ = -σ²/2 keeps the mean at 1.
                const SIGMA: f64 = 0.5;
                let u1: f64 = self.service_rng.random_range(f64::MIN_POSITIVE..1.0);
                let u2: f64 = self.service_rng.random_range(0.0..1.0);
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                (SIGMA * z - SIGMA * SIGMA / 2.0).exp()
            }
        };
        let service = SERVICE_US * slowdown * noise;
        let workers = &mut self.replicas[j];
        let w = (0..workers.len()).min_by_key(|&w| workers[w]).unwrap_or(0);
        let start = workers[w].max(at_us);
        let done = start + service.round() as u64;
        workers[w] = done;
        done - at_us
    }
}

/// Events in 1 ms slots, a ring of [`CALENDAR_SLOTS`] milliseconds (an event further ahead
/// waits in `later`). `take(ms)` returns that millisecond's events sorted (time first, then
/// the rest of the tuple), so a run depends only on the events, not on the order of pushes.
struct Calendar<T> {
    slots: Vec<Vec<T>>,
    later: Vec<(u64, T)>,
}

impl<T> Default for Calendar<T> {
    fn default() -> Calendar<T> {
        Calendar {
            slots: (0..CALENDAR_SLOTS).map(|_| Vec::new()).collect(),
            later: Vec::new(),
        }
    }
}

const CALENDAR_SLOTS: u64 = 4_096;

impl<T: Ord> Calendar<T> {
    /// Files `event` at `at_us`, seen at `now_ms` (an event in the past lands now).
    fn push(&mut self, now_ms: u64, at_us: u64, event: T) {
        let ms = (at_us / 1_000).max(now_ms);
        if ms < now_ms + CALENDAR_SLOTS {
            self.slots[(ms % CALENDAR_SLOTS) as usize].push(event);
        } else {
            self.later.push((ms, event));
        }
    }

    /// The events of millisecond `now_ms` (pushed so far), in order.
    fn take(&mut self, now_ms: u64) -> Vec<T> {
        let mut due = std::mem::take(&mut self.slots[(now_ms % CALENDAR_SLOTS) as usize]);
        if !self.later.is_empty() {
            let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.later)
                .into_iter()
                .partition(|(ms, _)| *ms <= now_ms);
            self.later = later;
            due.extend(now.into_iter().map(|(_, e)| e));
        }
        due.sort_unstable();
        due
    }
}

/// What the processes believe, averaged over them: the victim's estimate (ms, over the
/// processes that have one) and the share of processes for which it is unknown (never
/// measured, reset, or stale: no sample for a second), then the same over the other replicas.
fn estimates(world: &World) -> [f64; 4] {
    let mut sum = [0.0; 2];
    let mut known = [0u64; 2];
    let mut all = [0u64; 2];
    for stats in &world.stats {
        for (j, s) in stats.iter().enumerate() {
            let k = usize::from(j != VICTIM);
            all[k] += 1;
            if let Some(e) = s.expected() {
                sum[k] += e.as_secs_f64() * 1e3;
                known[k] += 1;
            }
        }
    }
    let mean = |k: usize| sum[k] / known[k].max(1) as f64;
    let unknown = |k: usize| 1.0 - known[k] as f64 / all[k].max(1) as f64;
    [mean(0), unknown(0), mean(1), unknown(1)]
}

/// Workers per replica for `processes` sending `rate` requests/s each (see [`UTILIZATION`]).
fn workers(processes: usize, rate: f64) -> usize {
    let fair = processes as f64 * rate / REPLICAS as f64;
    ((fair * SERVICE_US / 1e6 / UTILIZATION).round() as usize).max(1)
}

fn addr(p: usize, j: usize) -> HostAddr {
    HostAddr::new(format!("p{p}"), BASE_PORT + j as u16)
}

/// An exponential gap with the given mean, in whole µs (at least 1).
fn exponential(rng: &mut SmallRng, mean_us: f64) -> u64 {
    let u: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
    ((-u.ln() * mean_us).round() as u64).max(1)
}

fn run_child(job: &Job, seed: u64, processes: usize, service: Service) -> Res<String> {
    if !STRATEGIES.contains(&job.strategy.as_str()) {
        return Err(format!("strategy `{}`: one of {STRATEGIES:?}", job.strategy).into());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()?;
    // The runtime runs the simulation on this thread: every draw of the library is seeded.
    seed_thread_rng(Some(derive(seed, &format!("library {job}"))));
    rt.block_on(async {
        let mut world = World::new(job, seed, processes, service)?;
        let json = match job.scenario {
            Scenario::DeathAndReturn => {
                let mut scene = DeathAndReturn::new(processes);
                world.run(&mut scene).await;
                serde_json::to_string(&scene.result(job))?
            }
            Scenario::Slow => {
                let mut scene = Slow::new();
                world.run(&mut scene).await;
                serde_json::to_string(&scene.result(job))?
            }
        };
        Ok(json)
    })
}

// ---------------------------------------------------------------------------------------
// Scenario (a) + (b).

struct DeathAndReturn {
    /// Requests served by each replica from the death to the return.
    while_dead: [u64; REPLICAS],
    /// Per `BUCKET_MS`: requests served, and by the victim.
    buckets: Vec<(u64, u64)>,
    /// Per process: when its entry expires, when it first probed, ms after the death.
    expiry: Vec<u64>,
    first_probe: Vec<Option<u64>>,
    /// Per `PROBE_BUCKET_MS` after each process's own probe: its requests, and the victim's.
    ramp: Vec<(u64, u64)>,
    failed_requests: u64,
    failed_probes: u64,
    unserved: u64,
    /// The request being served is a probe (not counted in `ramp`: it is not a pick made
    /// under slow start).
    probing: bool,
    /// [`estimates`] at the start of each `BUCKET_MS`.
    estimates: Vec<[f64; 4]>,
    /// Before the death, per `PROBE_BUCKET_MS`: requests served by each replica (every
    /// process starts at t = 0, as after a fleet-wide deploy).
    start: Vec<[u64; REPLICAS]>,
}

#[derive(Serialize, Deserialize)]
struct AbResult {
    strategy: String,
    rate: f64,
    /// Each replica's share from the death to the return, as a multiple of 1/49.
    shares_while_dead: Vec<f64>,
    /// The victim's share per `BUCKET_MS`, as a multiple of 1/50.
    share: Vec<f64>,
    /// ms after the death.
    expiry: Vec<u64>,
    first_probe: Vec<Option<u64>>,
    /// The victim's share by time since each process's own probe, per `PROBE_BUCKET_MS`,
    /// as a multiple of 1/50.
    ramp: Vec<f64>,
    failed_requests: u64,
    failed_probes: u64,
    unserved: u64,
    requests: u64,
    estimates: Vec<[f64; 4]>,
    /// Before the death: the largest share of one replica in one `PROBE_BUCKET_MS` (multiple
    /// of 1/50), when (ms) and which; the same from 1 s on.
    start_max: (f64, u64, usize),
    start_max_after_1s: (f64, u64, usize),
}

impl DeathAndReturn {
    fn new(processes: usize) -> DeathAndReturn {
        DeathAndReturn {
            while_dead: [0; REPLICAS],
            buckets: vec![(0, 0); (AB_END / BUCKET_MS) as usize],
            expiry: vec![0; processes],
            first_probe: vec![None; processes],
            ramp: vec![(0, 0); (RAMP_MS / PROBE_BUCKET_MS) as usize],
            failed_requests: 0,
            failed_probes: 0,
            unserved: 0,
            probing: false,
            estimates: Vec::new(),
            start: vec![[0; REPLICAS]; (AB_DEATH / PROBE_BUCKET_MS) as usize],
        }
    }

    /// The largest share of one replica in one bucket of `start` from `from_ms` on.
    fn start_max(&self, from_ms: u64) -> (f64, u64, usize) {
        let mut best = (0.0, 0, 0);
        for (k, counts) in self
            .start
            .iter()
            .enumerate()
            .skip((from_ms / PROBE_BUCKET_MS) as usize)
        {
            let all: u64 = counts.iter().sum();
            for (j, &n) in counts.iter().enumerate() {
                let share = n as f64 / all.max(1) as f64 * REPLICAS as f64;
                if share > best.0 {
                    best = (share, k as u64 * PROBE_BUCKET_MS, j);
                }
            }
        }
        best
    }

    fn result(&self, job: &Job) -> AbResult {
        let dead_total: u64 = self.while_dead.iter().sum();
        let share = |n: u64, of: u64, hosts: usize| {
            if of == 0 {
                0.0
            } else {
                n as f64 / of as f64 * hosts as f64
            }
        };
        AbResult {
            strategy: job.strategy.clone(),
            rate: job.rate,
            shares_while_dead: self
                .while_dead
                .iter()
                .map(|&n| share(n, dead_total, REPLICAS - 1))
                .collect(),
            // Up to the last full bucket (a run may end early).
            share: self
                .buckets
                .iter()
                .take_while(|b| b.0 > 0)
                .map(|&(all, v)| share(v, all, REPLICAS))
                .collect(),
            expiry: self.expiry.clone(),
            first_probe: self.first_probe.clone(),
            ramp: self
                .ramp
                .iter()
                .map(|&(all, v)| share(v, all, REPLICAS))
                .collect(),
            failed_requests: self.failed_requests,
            failed_probes: self.failed_probes,
            unserved: self.unserved,
            requests: self.buckets.iter().map(|b| b.0).sum(),
            estimates: self.estimates.clone(),
            start_max: self.start_max(0),
            start_max_after_1s: self.start_max(1_000),
        }
    }
}

impl Scene for DeathAndReturn {
    /// At `AB_END`, or once every process has probed and been followed for `RAMP_MS` (at a
    /// high rate that is seconds earlier, and picks while a host is blacklisted are the
    /// costly ones: see docs/simulation.md).
    fn done(&self, now_ms: u64) -> bool {
        let all_probed = || {
            self.first_probe
                .iter()
                .try_fold(0, |last, p| p.map(|p| last.max(p)))
                .is_some_and(|last| now_ms >= AB_DEATH + last + RAMP_MS)
        };
        now_ms >= AB_END || (now_ms > AB_BACK && now_ms.is_multiple_of(100) && all_probed())
    }

    fn at(&mut self, now_ms: u64, world: &mut World) {
        if now_ms.is_multiple_of(BUCKET_MS) {
            self.estimates.push(estimates(world));
        }
        if now_ms != AB_DEATH {
            return;
        }
        // Every process sees its connections to the victim break in this millisecond and
        // blacklists it, as `mark_failed` would: the entries are made at the same instant,
        // the worst case for a herd when they expire.
        for (p, balancer) in world.balancers.iter().enumerate() {
            let host = addr(p, VICTIM);
            balancer
                .blacklist()
                .add(&host, world.timeout, "connection reset (simulated)");
            world.listed[p] |= 1 << VICTIM;
            let left = balancer
                .blacklist()
                .snapshot()
                .iter()
                .find(|e| e.addr == host)
                .map_or(Duration::ZERO, |e| e.remaining);
            self.expiry[p] = left.as_millis() as u64;
        }
    }

    fn alive(&self, j: usize, now_ms: u64) -> bool {
        j != VICTIM || !(AB_DEATH..AB_BACK).contains(&now_ms)
    }

    fn served(&mut self, p: usize, j: usize, now_ms: u64, _latency_us: u64) {
        if (AB_DEATH..AB_BACK).contains(&now_ms) {
            self.while_dead[j] += 1;
        }
        if let Some(counts) = self.start.get_mut((now_ms / PROBE_BUCKET_MS) as usize) {
            counts[j] += 1;
        }
        let b = &mut self.buckets[(now_ms / BUCKET_MS) as usize];
        b.0 += 1;
        b.1 += u64::from(j == VICTIM);
        if std::mem::take(&mut self.probing) {
            return;
        }
        if let Some(probed) = self.first_probe[p] {
            let since = now_ms - (AB_DEATH + probed);
            if let Some(r) = self.ramp.get_mut((since / PROBE_BUCKET_MS) as usize) {
                r.0 += 1;
                r.1 += u64::from(j == VICTIM);
            }
        }
    }

    fn failed(&mut self, _p: usize, _j: usize, _now_ms: u64, probe: bool) {
        self.failed_requests += 1;
        self.failed_probes += u64::from(probe);
    }

    fn probed(&mut self, p: usize, _j: usize, now_ms: u64) {
        self.probing = true;
        self.first_probe[p].get_or_insert(now_ms - AB_DEATH);
    }

    fn unserved(&mut self) {
        self.unserved += 1;
    }
}

// ---------------------------------------------------------------------------------------
// Scenario (c).

struct Slow {
    /// Per `BUCKET_MS`: requests, the victim's, and the sum of latencies (µs).
    buckets: Vec<(u64, u64, u64)>,
    /// Latencies in the healthy phase and the slow phase (µs), and the victim's requests in
    /// each measured phase.
    healthy: hdrhistogram::Histogram<u64>,
    slowed: hdrhistogram::Histogram<u64>,
    victim: [(u64, u64); 3],
    /// [`estimates`] at the start of each `BUCKET_MS`.
    estimates: Vec<[f64; 4]>,
}

#[derive(Serialize, Deserialize)]
struct CResult {
    strategy: String,
    rate: f64,
    /// The victim's share per `BUCKET_MS` (multiple of 1/50), and the mean latency (ms).
    share: Vec<f64>,
    mean_ms: Vec<f64>,
    /// The victim's share (multiple of 1/50) before, during and after its slow spell.
    phase_share: [f64; 3],
    healthy_mean_ms: f64,
    healthy_p99_ms: f64,
    slowed_mean_ms: f64,
    slowed_p99_ms: f64,
    estimates: Vec<[f64; 4]>,
}

impl Slow {
    fn new() -> Slow {
        let h = || hdrhistogram::Histogram::new_with_bounds(1, 60_000_000, 3).expect("bounds");
        Slow {
            buckets: vec![(0, 0, 0); (C_END / BUCKET_MS) as usize],
            healthy: h(),
            slowed: h(),
            victim: [(0, 0); 3],
            estimates: Vec::new(),
        }
    }

    fn result(&self, job: &Job) -> CResult {
        let share = |v: u64, all: u64| {
            if all == 0 {
                0.0
            } else {
                v as f64 / all as f64 * REPLICAS as f64
            }
        };
        CResult {
            strategy: job.strategy.clone(),
            rate: job.rate,
            share: self.buckets.iter().map(|b| share(b.1, b.0)).collect(),
            mean_ms: self
                .buckets
                .iter()
                .map(|b| b.2 as f64 / b.0.max(1) as f64 / 1e3)
                .collect(),
            phase_share: self.victim.map(|(all, v)| share(v, all)),
            healthy_mean_ms: self.healthy.mean() / 1e3,
            healthy_p99_ms: self.healthy.value_at_quantile(0.99) as f64 / 1e3,
            slowed_mean_ms: self.slowed.mean() / 1e3,
            slowed_p99_ms: self.slowed.value_at_quantile(0.99) as f64 / 1e3,
            estimates: self.estimates.clone(),
        }
    }
}

impl Scene for Slow {
    fn done(&self, now_ms: u64) -> bool {
        now_ms >= C_END
    }

    fn at(&mut self, now_ms: u64, world: &mut World) {
        if now_ms.is_multiple_of(BUCKET_MS) {
            self.estimates.push(estimates(world));
        }
    }

    fn slowdown(&self, j: usize, now_ms: u64) -> f64 {
        if j == VICTIM && (C_SLOW..C_FAST).contains(&now_ms) {
            SLOW_FACTOR
        } else {
            1.0
        }
    }

    fn served(&mut self, _p: usize, j: usize, now_ms: u64, latency_us: u64) {
        let b = &mut self.buckets[(now_ms / BUCKET_MS) as usize];
        b.0 += 1;
        b.1 += u64::from(j == VICTIM);
        b.2 += latency_us;
        let within = |(from, to): (u64, u64)| (from..to).contains(&now_ms);
        for (k, phase) in [C_HEALTHY, C_SLOWED, C_AFTER].into_iter().enumerate() {
            if within(phase) {
                self.victim[k].0 += 1;
                self.victim[k].1 += u64::from(j == VICTIM);
            }
        }
        let latency = latency_us.clamp(1, 60_000_000);
        if within(C_HEALTHY) {
            self.healthy.saturating_record(latency);
        } else if within(C_SLOWED) {
            self.slowed.saturating_record(latency);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The report.

fn report(args: &Args, ab: &[AbResult], c: &[CResult]) -> String {
    let mut o = String::new();
    let defaults = LbOpts::default();
    let rates: Vec<String> = args.rates.iter().map(|r| format!("{r}")).collect();
    let _ = writeln!(
        o,
        "mysql_lb simulator: {} processes x {REPLICAS} replicas, virtual time, seed {}",
        args.processes, args.seed
    );
    let _ = writeln!(
        o,
        "workload: Poisson requests, {} /s per process; replica: workers for {:.0} % of its capacity \
         at its fair share ({}), FIFO queue, service {} ms mean ({}); library defaults \
         (blacklist_timeout {:?}, slow_start {:?}, latency_decay {:?})",
        rates.join(" and "),
        UTILIZATION * 100.0,
        args.rates
            .iter()
            .map(|&r| format!("{} at {r}/s", workers(args.processes, r)))
            .collect::<Vec<_>>()
            .join(", "),
        SERVICE_US / 1e3,
        match args.service {
            Service::Uniform => "uniform +-25 %",
            Service::Lognormal => "log-normal, sigma 0.5",
        },
        defaults.blacklist_timeout(),
        defaults.slow_start(),
        defaults.latency_decay(),
    );

    let _ = writeln!(
        o,
        "\n(0) Every process starts at t = 0 (a fleet-wide deploy). Largest share of one replica in \
         one 100 ms bucket before the death (multiple of 1/{REPLICAS}):"
    );
    let _ = writeln!(
        o,
        "| strategy | rate /s | max, t = 0-{} s | at | max, t = 1-{} s | at |",
        AB_DEATH / 1000,
        AB_DEATH / 1000
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|");
    for r in ab {
        let (a, b) = (r.start_max, r.start_max_after_1s);
        let _ = writeln!(
            o,
            "| {} | {} | {:.2} | r{} at {:.1} s | {:.2} | r{} at {:.1} s |",
            r.strategy,
            r.rate,
            a.0,
            a.2,
            a.1 as f64 / 1e3,
            b.0,
            b.2,
            b.1 as f64 / 1e3
        );
    }

    let _ = writeln!(
        o,
        "\n(a) replica r{VICTIM} dies at t = {} s; every process blacklists it at once. \
         Shares of t = {}-{} s, as multiples of the fair share 1/{}:",
        AB_DEATH / 1000,
        AB_DEATH / 1000,
        AB_BACK / 1000,
        REPLICAS - 1
    );
    let _ = writeln!(
        o,
        "| strategy | rate /s | max other replica | min other replica | neighbour r{NEIGHBOUR} | r{VICTIM} | requests failed |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|");
    for r in ab {
        let others = r
            .shares_while_dead
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != VICTIM)
            .map(|(_, s)| *s);
        let max = others.clone().fold(0.0, f64::max);
        let min = others.fold(f64::MAX, f64::min);
        let _ = writeln!(
            o,
            "| {} | {} | {max:.3} | {min:.3} | {:.3} | {:.3} | {} |",
            r.strategy,
            r.rate,
            r.shares_while_dead[NEIGHBOUR],
            r.shares_while_dead[VICTIM],
            r.failed_requests - r.failed_probes
        );
    }

    let _ = writeln!(
        o,
        "\n(b) r{VICTIM} is back at t = {} s (before any entry expires). Each process's entry \
         expires 8-10 s after the death; its next pick of r{VICTIM} after that is its probe. \
         Times in s after the death (t = {} s):",
        AB_BACK / 1000,
        AB_DEATH / 1000
    );
    let _ = writeln!(
        o,
        "| strategy | rate /s | entries expire | first probes | max probes /100 ms | probes failed | not probed by t = {} s | max share /250 ms after return | requests unserved |",
        AB_END / 1000
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|---|---|");
    for r in ab {
        let probes: Vec<u64> = r.first_probe.iter().flatten().copied().collect();
        let span = |v: &[u64]| {
            let lo = v.iter().min().copied().unwrap_or(0);
            let hi = v.iter().max().copied().unwrap_or(0);
            format!("{:.2}-{:.2}", lo as f64 / 1e3, hi as f64 / 1e3)
        };
        let hist = histogram(&probes, PROBE_BUCKET_MS);
        let after_return = r.share[(AB_BACK / BUCKET_MS) as usize..]
            .iter()
            .fold(0.0, |a: f64, b| a.max(*b));
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {after_return:.2} | {} |",
            r.strategy,
            r.rate,
            span(&r.expiry),
            span(&probes),
            hist.iter().max().unwrap_or(&0),
            r.failed_probes,
            r.first_probe.iter().filter(|p| p.is_none()).count(),
            r.unserved
        );
    }
    for r in ab {
        let probes: Vec<u64> = r.first_probe.iter().flatten().copied().collect();
        let hist = histogram(&probes, PROBE_BUCKET_MS);
        let first = hist.iter().position(|&n| n > 0).unwrap_or(0) / 10 * 10;
        let _ = writeln!(
            o,
            "first probes per 100 ms, {} at {}/s (each line 1 s; s after the death):",
            r.strategy, r.rate
        );
        for (k, chunk) in hist[first..].chunks(10).enumerate() {
            let cells: Vec<String> = chunk.iter().map(|n| format!("{n:3}")).collect();
            let _ = writeln!(
                o,
                "  {:5.1} s: {}",
                (first / 10 + k) as f64,
                cells.join(" ")
            );
        }
    }
    let _ = writeln!(
        o,
        "\nr{VICTIM}'s share of all requests per 250 ms (multiple of 1/{REPLICAS}; t in s; it is back at {} s):",
        AB_BACK / 1000
    );
    let header: Vec<String> = ab
        .iter()
        .map(|r| format!("{} {}/s", r.strategy, r.rate))
        .collect();
    let _ = writeln!(o, "| t | {} |", header.join(" | "));
    let _ = writeln!(o, "|---|{}", "---|".repeat(ab.len()));
    let from = ((AB_DEATH + 7_500) / BUCKET_MS) as usize;
    for k in from..(AB_END / BUCKET_MS) as usize {
        let cells: Vec<String> = ab
            .iter()
            .map(|r| r.share.get(k).map_or("-".to_owned(), |s| format!("{s:.2}")))
            .collect();
        let _ = writeln!(
            o,
            "| {:.2} | {} |",
            (k as u64 * BUCKET_MS) as f64 / 1e3,
            cells.join(" | ")
        );
    }
    let _ = writeln!(
        o,
        "\nr{VICTIM}'s share of each process's requests by time since that process's own probe \
         (multiple of 1/{REPLICAS}; slow start ramps 10 % -> 100 % over 2 s):"
    );
    let _ = writeln!(o, "| s since probe | {} |", header.join(" | "));
    let _ = writeln!(o, "|---|{}", "---|".repeat(ab.len()));
    for k in (0..(RAMP_MS / PROBE_BUCKET_MS) as usize).step_by(2) {
        let cells: Vec<String> = ab.iter().map(|r| format!("{:.2}", r.ramp[k])).collect();
        let _ = writeln!(
            o,
            "| {:.1} | {} |",
            (k as u64 * PROBE_BUCKET_MS) as f64 / 1e3,
            cells.join(" | ")
        );
    }

    let _ = writeln!(
        o,
        "\nWhat the processes believe after the return: r{VICTIM}'s latency estimate / the other \
         replicas' (mean over the processes that have a fresh one, ms), and the share of \
         processes for which r{VICTIM}'s is unknown:"
    );
    let _ = writeln!(o, "| t | {} |", header.join(" | "));
    let _ = writeln!(o, "|---|{}", "---|".repeat(ab.len()));
    for t in (AB_BACK + 3_000..=AB_BACK + 9_000).step_by(500) {
        let k = (t / BUCKET_MS) as usize;
        let cells: Vec<String> = ab
            .iter()
            .map(|r| {
                r.estimates.get(k).map_or("-".to_owned(), |e| {
                    format!("{:.3}/{:.3}, {:.0} %", e[0], e[2], e[1] * 100.0)
                })
            })
            .collect();
        let _ = writeln!(o, "| {:.1} | {} |", t as f64 / 1e3, cells.join(" | "));
    }

    let _ = writeln!(
        o,
        "\n(c) r{VICTIM} is {SLOW_FACTOR}x slower (service {} ms, same workers) from t = {} s to {} s. \
         Its share (multiple of 1/{REPLICAS}) at t = {}-{} s (healthy), {}-{} s (slow), {}-{} s (after); \
         latency over all requests:",
        SERVICE_US * SLOW_FACTOR / 1e3,
        C_SLOW / 1000,
        C_FAST / 1000,
        C_HEALTHY.0 as f64 / 1e3,
        C_HEALTHY.1 as f64 / 1e3,
        C_SLOWED.0 as f64 / 1e3,
        C_SLOWED.1 as f64 / 1e3,
        C_AFTER.0 as f64 / 1e3,
        C_AFTER.1 as f64 / 1e3,
    );
    let _ = writeln!(
        o,
        "| strategy | rate /s | share healthy | share slow | share after | mean ms healthy | mean ms slow | mean slow / healthy | p99 ms healthy | p99 ms slow | estimates unknown (healthy) | r{VICTIM}'s unknown (slow) |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in c {
        let _ = writeln!(
            o,
            "| {} | {} | {:.2} | {:.2} | {:.2} | {:.3} | {:.3} | {:.3} | {:.2} | {:.2} | {:.0} % | {:.0} % |",
            r.strategy,
            r.rate,
            r.phase_share[0],
            r.phase_share[1],
            r.phase_share[2],
            r.healthy_mean_ms,
            r.slowed_mean_ms,
            r.slowed_mean_ms / r.healthy_mean_ms,
            r.healthy_p99_ms,
            r.slowed_p99_ms,
            mean_of(&r.estimates, C_HEALTHY, 3) * 100.0,
            mean_of(&r.estimates, C_SLOWED, 1) * 100.0,
        );
    }
    o
}

/// The mean of field `i` of the estimates sampled within `phase` (ms).
fn mean_of(estimates: &[[f64; 4]], (from, to): (u64, u64), i: usize) -> f64 {
    let within = &estimates[(from / BUCKET_MS) as usize..(to / BUCKET_MS) as usize];
    within.iter().map(|e| e[i]).sum::<f64>() / within.len().max(1) as f64
}

/// Counts per `width` ms of times in ms.
fn histogram(times: &[u64], width: u64) -> Vec<u64> {
    let n = times.iter().max().map_or(0, |m| m / width + 1) as usize;
    let mut h = vec![0; n];
    for t in times {
        h[(t / width) as usize] += 1;
    }
    h
}

// ---------------------------------------------------------------------------------------
// Charts.

const COLORS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
];

fn color_of(strategy: &str) -> RGBColor {
    COLORS[STRATEGIES.iter().position(|s| *s == strategy).unwrap_or(0)]
}

const FONT_FILES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

/// plotters is built without system fonts (see `cli/src/plot.rs`): it measures text with a
/// TrueType file registered at run time.
fn font() -> Res<()> {
    for file in FONT_FILES {
        if let Ok(bytes) = std::fs::read(file) {
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                return Ok(());
            }
        }
    }
    Err(format!(
        "no TrueType font for chart text (looked for {}); install fonts-dejavu-core or pass --no-charts",
        FONT_FILES.join(", ")
    )
    .into())
}

/// The runs of one rate, in strategy order.
fn at_rate<T>(runs: &[T], rate: impl Fn(&T) -> f64) -> Vec<(f64, Vec<&T>)> {
    let mut rates: Vec<f64> = runs.iter().map(&rate).collect();
    rates.dedup();
    rates
        .into_iter()
        .map(|r| (r, runs.iter().filter(|x| rate(x) == r).collect()))
        .collect()
}

/// A labelled line: label, colour, points.
type Line = (String, RGBColor, Vec<(f64, f64)>);

/// One panel: a line per series, optional dashed reference lines.
struct Panel<'a> {
    title: String,
    x_desc: String,
    y_desc: &'a str,
    x: (f64, f64),
    y: (f64, f64),
    lines: Vec<Line>,
    references: Vec<(String, Vec<(f64, f64)>)>,
}

fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &Panel<'_>) -> Res<()>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| -> Box<dyn Error + Send + Sync> {
        e.to_string().into()
    };
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(p.x.0..p.x.1, p.y.0..p.y.1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(p.x_desc.as_str())
        .y_desc(p.y_desc)
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    for (label, points) in &p.references {
        let style = RGBColor(110, 110, 110).stroke_width(1);
        chart
            .draw_series(DashedLineSeries::new(points.iter().copied(), 6, 4, style))
            .map_err(err)?
            .label(label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    for (label, color, points) in &p.lines {
        let style = color.stroke_width(2);
        chart
            .draw_series(LineSeries::new(points.iter().copied(), style))
            .map_err(err)?
            .label(label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font(("sans-serif", 13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    Ok(())
}

/// Panels in a grid of `rows` rows, one column per rate, under a title.
fn draw_grid(path: &Path, title: &str, rows: usize, panels: &[Panel<'_>]) -> Res<()> {
    let cols = panels.len().div_ceil(rows);
    let size = (650 * cols as u32, 60 + 420 * rows as u32);
    if path.extension().is_some_and(|e| e == "png") {
        paint_grid(
            BitMapBackend::new(path, size).into_drawing_area(),
            title,
            rows,
            cols,
            panels,
        )
    } else {
        paint_grid(
            SVGBackend::new(path, size).into_drawing_area(),
            title,
            rows,
            cols,
            panels,
        )
    }
}

fn paint_grid<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    rows: usize,
    cols: usize,
    panels: &[Panel<'_>],
) -> Res<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let root = root
        .titled(title, ("sans-serif", 24))
        .map_err(|e| e.to_string())?;
    // Panels are given row by row, one column per rate.
    for (area, panel) in root.split_evenly((rows, cols)).iter().zip(panels) {
        draw_panel(area, panel)?;
    }
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}

fn chart_a(path: &Path, ab: &[AbResult]) -> Res<()> {
    let panels: Vec<Panel<'_>> = at_rate(ab, |r| r.rate)
        .into_iter()
        .map(|(rate, runs)| {
            let top = runs
                .iter()
                .flat_map(|r| r.shares_while_dead.iter().copied())
                .fold(1.0, f64::max);
            Panel {
                title: format!("{rate} requests/s per process"),
                x_desc: "replica".to_owned(),
                y_desc: "share while r24 is dead (x fair share 1/49)",
                x: (0.0, (REPLICAS - 1) as f64),
                y: (0.0, (top * 1.15).max(1.5)),
                lines: runs
                    .iter()
                    .map(|r| {
                        let points = r
                            .shares_while_dead
                            .iter()
                            .enumerate()
                            .map(|(j, s)| (j as f64, *s))
                            .collect();
                        (r.strategy.clone(), color_of(&r.strategy), points)
                    })
                    .collect(),
                references: vec![(
                    "fair share".to_owned(),
                    vec![(0.0, 1.0), ((REPLICAS - 1) as f64, 1.0)],
                )],
            }
        })
        .collect();
    draw_grid(
        path,
        &format!(
            "(a) Replica r{VICTIM} dies: where its traffic goes ({} processes x {REPLICAS} replicas, t = {}-{} s)",
            ab.first().map_or(0, |r| r.expiry.len()),
            AB_DEATH / 1000,
            AB_BACK / 1000
        ),
        1,
        &panels,
    )
}

fn chart_b(path: &Path, ab: &[AbResult]) -> Res<()> {
    let groups = at_rate(ab, |r| r.rate);
    let death = AB_DEATH as f64 / 1e3;
    let mut rows: [Vec<Panel<'_>>; 3] = Default::default();
    for (rate, runs) in &groups {
        // Probes per 100 ms, against the expiries (the same jitter whatever the strategy:
        // shown once, from the first run).
        let hists: Vec<Vec<u64>> = runs
            .iter()
            .map(|r| {
                histogram(
                    &r.first_probe.iter().flatten().copied().collect::<Vec<_>>(),
                    PROBE_BUCKET_MS,
                )
            })
            .collect();
        let expiries = histogram(&runs[0].expiry, PROBE_BUCKET_MS);
        let top = hists
            .iter()
            .chain([&expiries])
            .flat_map(|h| h.iter().copied())
            .max()
            .unwrap_or(1) as f64;
        let to_points = |h: &[u64]| -> Vec<(f64, f64)> {
            h.iter()
                .enumerate()
                .map(|(k, n)| (death + (k as u64 * PROBE_BUCKET_MS) as f64 / 1e3, *n as f64))
                .collect()
        };
        rows[0].push(Panel {
            title: format!("{rate} requests/s per process: first probes of r{VICTIM} per 100 ms"),
            x_desc: "t (s)".to_owned(),
            y_desc: "processes probing / 100 ms",
            x: (death + 7.0, AB_END as f64 / 1e3),
            y: (0.0, top * 1.15),
            lines: runs
                .iter()
                .zip(&hists)
                .map(|(r, h)| (r.strategy.clone(), color_of(&r.strategy), to_points(h)))
                .collect(),
            references: vec![("entries expiring".to_owned(), to_points(&expiries))],
        });
        let share_points = |r: &AbResult| -> Vec<(f64, f64)> {
            r.share
                .iter()
                .enumerate()
                .map(|(k, s)| ((k as u64 * BUCKET_MS) as f64 / 1e3, *s))
                .collect()
        };
        let top_share = runs
            .iter()
            .flat_map(|r| r.share.iter().copied())
            .fold(2.0, f64::max)
            * 1.1;
        rows[1].push(Panel {
            title: format!("{rate}/s: r{VICTIM}'s share of all requests per 250 ms"),
            x_desc: "t (s); dead 3-8 s, back at 8 s".to_owned(),
            y_desc: "share (x fair share 1/50)",
            x: (0.0, AB_END as f64 / 1e3),
            y: (0.0, top_share),
            lines: runs
                .iter()
                .map(|r| (r.strategy.clone(), color_of(&r.strategy), share_points(r)))
                .collect(),
            references: vec![(
                "2x fair share".to_owned(),
                vec![(0.0, 2.0), (AB_END as f64 / 1e3, 2.0)],
            )],
        });
        let ramp_end = RAMP_MS as f64 / 1e3;
        let top_ramp = runs
            .iter()
            .flat_map(|r| r.ramp.iter().copied())
            .fold(2.0, f64::max)
            * 1.1;
        rows[2].push(Panel {
            title: format!(
                "{rate}/s: r{VICTIM}'s share of a process's requests after its own probe"
            ),
            x_desc: "s since the process's probe (100 ms buckets)".to_owned(),
            y_desc: "share (x fair share 1/50)",
            x: (0.0, ramp_end),
            y: (0.0, top_ramp),
            lines: runs
                .iter()
                .map(|r| {
                    let points = r
                        .ramp
                        .iter()
                        .enumerate()
                        .map(|(k, s)| ((k as u64 * PROBE_BUCKET_MS) as f64 / 1e3, *s))
                        .collect();
                    (r.strategy.clone(), color_of(&r.strategy), points)
                })
                .collect(),
            references: vec![
                (
                    "slow-start weight max(0.1, t/2 s)".to_owned(),
                    (0..=30)
                        .map(|k| {
                            let t = k as f64 / 10.0;
                            (t, (t / 2.0).clamp(0.1, 1.0))
                        })
                        .collect(),
                ),
                (
                    "2x fair share".to_owned(),
                    vec![(0.0, 2.0), (ramp_end, 2.0)],
                ),
            ],
        });
    }
    let panels: Vec<Panel<'_>> = rows.into_iter().flatten().collect();
    draw_grid(
        path,
        &format!(
            "(b) Replica r{VICTIM} comes back: probes spread by the jittered expiry, traffic ramps (slow start)"
        ),
        3,
        &panels,
    )
}

fn chart_c(path: &Path, c: &[CResult]) -> Res<()> {
    let groups = at_rate(c, |r| r.rate);
    let end = C_END as f64 / 1e3;
    let mut rows: [Vec<Panel<'_>>; 2] = Default::default();
    for (rate, runs) in &groups {
        let series = |f: fn(&CResult) -> &Vec<f64>| -> Vec<Line> {
            runs.iter()
                .map(|r| {
                    let points = f(r)
                        .iter()
                        .enumerate()
                        .map(|(k, v)| ((k as u64 * BUCKET_MS) as f64 / 1e3, *v))
                        .collect();
                    (r.strategy.clone(), color_of(&r.strategy), points)
                })
                .collect()
        };
        let top_share = runs
            .iter()
            .flat_map(|r| r.share.iter().copied())
            .fold(1.0, f64::max);
        rows[0].push(Panel {
            title: format!("{rate} requests/s per process: r{VICTIM}'s share per 250 ms"),
            x_desc: "t (s); r24 5x slower from 4 s to 12 s".to_owned(),
            y_desc: "share (x fair share 1/50)",
            x: (0.0, end),
            y: (0.0, top_share * 1.15),
            lines: series(|r| &r.share),
            references: vec![("fair share".to_owned(), vec![(0.0, 1.0), (end, 1.0)])],
        });
        // The scale follows the run after its first second: roundRobin's start (every
        // process's first request on r0) queues there and would flatten the rest; its peak is
        // named in the title instead.
        let settle = (1_000 / BUCKET_MS) as usize;
        let top_ms = runs
            .iter()
            .flat_map(|r| r.mean_ms.iter().skip(settle).copied())
            .fold(1.0, f64::max);
        let (peak, who) = runs
            .iter()
            .map(|r| {
                (
                    r.mean_ms.iter().take(settle).copied().fold(0.0, f64::max),
                    r,
                )
            })
            .fold(
                (0.0, None),
                |a, (m, r)| if m > a.0 { (m, Some(r)) } else { a },
            );
        let off = match who {
            Some(r) if peak > top_ms * 1.15 => {
                format!(
                    "; {}'s first second ({peak:.1} ms) is off the chart",
                    r.strategy
                )
            }
            _ => String::new(),
        };
        rows[1].push(Panel {
            title: format!("{rate}/s: mean latency of all requests per 250 ms"),
            x_desc: format!("t (s){off}"),
            y_desc: "mean latency (ms)",
            x: (0.0, end),
            y: (0.0, top_ms * 1.15),
            lines: series(|r| &r.mean_ms),
            references: vec![],
        });
    }
    let panels: Vec<Panel<'_>> = rows.into_iter().flatten().collect();
    draw_grid(
        path,
        &format!(
            "(c) Replica r{VICTIM} is {SLOW_FACTOR}x slower for 8 s: its share and everyone's latency"
        ),
        2,
        &panels,
    )
}
