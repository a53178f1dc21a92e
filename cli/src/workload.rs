//! Running a bench: N tasks, each with its own logical connection, run one statement in a
//! loop until the deadline, while the fault schedule (if any) hits the sandbox.
//!
//! Every statement is bounded by the deadline: one still running when the run ends is cut
//! and recorded as unfinished, so a driver asleep in a reconnect loop cannot stretch the run.
//!
//! The library's events (failovers, blacklistings, ...) are collected from just before the
//! start until the end, for the report and the chart (`marks.rs`).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mysql_lb::LbOpts;
use mysql_lb_sandbox::Sandbox;
use tokio::time::Instant;

use crate::driver::{Driver, Kind, Reconnect};
use crate::faults::{self, Fault};
use crate::input::Spread;
use crate::marks;
use crate::recorder::{Run, Sample};

/// What to run.
pub(crate) struct Plan {
    pub(crate) opts: LbOpts,
    pub(crate) sql: String,
    pub(crate) concurrency: usize,
    pub(crate) duration: Duration,
    pub(crate) driver: Kind,
    pub(crate) reconnect: Reconnect,
    /// Faults resolved to sandbox indexes; empty without a sandbox.
    pub(crate) faults: Vec<(Fault, usize)>,
    pub(crate) sandbox: Option<Arc<Sandbox>>,
    /// Shown before the progress bar.
    pub(crate) label: String,
    /// Where the load tasks run (the current runtime, or several; `input::Runtimes`).
    pub(crate) spread: Spread,
    /// Print `bench: t0_epoch_ms=N` on stderr when the clock of the samples starts (for
    /// scripts that time faults from it: `scripts/compare.sh`).
    pub(crate) print_t0: bool,
}

/// Counters the progress bar reads. Each task adds its counts every [`LIVE_BATCH`]
/// statements (and at its end) rather than after each one: a shared counter bumped from every
/// thread on every statement is a cache line passed between cores.
#[derive(Default)]
struct Live {
    statements: AtomicU64,
    errors: AtomicU64,
}

/// Statements a task counts locally before adding them to [`Live`].
const LIVE_BATCH: u64 = 64;
/// How long a task's disconnect may take at the end (a host may be stopped by then).
const DISCONNECT_BOUND: Duration = Duration::from_secs(2);
/// How long a fault action still running at the end may take to finish.
const FAULT_GRACE: Duration = Duration::from_secs(5);

pub(crate) async fn run(plan: Plan) -> Run {
    let hosts: Vec<String> = plan
        .opts
        .hosts()
        .iter()
        .map(|h| h.addr.to_string())
        .collect();
    let live = Arc::new(Live::default());
    // Subscribed before the start: every event of the run is seen.
    let collector = marks::Collector::start();
    let started = SystemTime::now();
    if plan.print_t0 {
        let ms = started
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        eprintln!("bench: t0_epoch_ms={ms}");
    }
    let start = Instant::now();
    let deadline = start + plan.duration;
    let events = Arc::new(Mutex::new(Vec::new()));
    let fault_task = plan.sandbox.clone().map(|sb| {
        let (faults, events) = (plan.faults.clone(), events.clone());
        tokio::spawn(faults::run(sb, faults, start, plan.duration, events))
    });
    let sql: Arc<str> = plan.sql.as_str().into();
    let tasks: Vec<_> = (0..plan.concurrency)
        .map(|i| {
            let driver = Driver::new(plan.driver, plan.opts.clone(), plan.reconnect, i);
            let (sql, live) = (sql.clone(), live.clone());
            plan.spread
                .spawn(i, task(driver, sql, live, start, deadline))
        })
        .collect();
    let bar = progress(&plan, live.clone(), start);
    let mut samples = Vec::new();
    for t in tasks {
        if let Ok(mut s) = t.await {
            samples.append(&mut s);
        }
    }
    if let Some(t) = fault_task {
        // An action under way at the end (a restart) gets a moment; later ones are dropped.
        let abort = t.abort_handle();
        if tokio::time::timeout_at(deadline + FAULT_GRACE, t)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
    let faults = std::mem::take(&mut *events.lock().unwrap_or_else(|p| p.into_inner()));
    if let Some(sb) = &plan.sandbox {
        faults::resume_all(sb);
    }
    bar.abandon();
    let (events, events_missed) = collector.finish().await;
    samples.sort_by_key(|s| s.start_us);
    Run {
        hosts,
        samples,
        duration: plan.duration,
        faults,
        events: marks::marks(&events, started),
        events_missed,
    }
}

async fn task(
    mut driver: Driver,
    sql: Arc<str>,
    live: Arc<Live>,
    start: Instant,
    deadline: Instant,
) -> Vec<Sample> {
    let mut samples = Vec::new();
    // One timer for the whole run, registered once, rather than a `timeout_at` (a timer entry
    // added and removed) per statement.
    let end = tokio::time::sleep_until(deadline);
    tokio::pin!(end);
    let (mut done, mut failed) = (0u64, 0u64);
    let flush = |done: &mut u64, failed: &mut u64| {
        live.statements
            .fetch_add(std::mem::take(done), Ordering::Relaxed);
        live.errors
            .fetch_add(std::mem::take(failed), Ordering::Relaxed);
    };
    // One clock read per statement: a statement's end is the next one's start (the loop
    // does little in between), except after the samples grew (a copy of the whole vector,
    // which must not count in the next statement's latency).
    let mut t0 = Instant::now();
    loop {
        if t0 >= deadline {
            break;
        }
        let start_us = (t0 - start).as_micros() as u64;
        let outcome = tokio::select! {
            biased;
            out = driver.run(&sql) => Some(out),
            () = &mut end => None,
        };
        let t1 = Instant::now();
        let latency_us = (t1 - t0).as_micros() as u64;
        t0 = t1;
        match outcome {
            Some((host, result)) => {
                done += 1;
                if result.is_err() {
                    failed += 1;
                }
                if done >= LIVE_BATCH || failed > 0 {
                    flush(&mut done, &mut failed);
                }
                let grows = samples.len() == samples.capacity();
                samples.push(Sample {
                    start_us,
                    latency_us,
                    ok: result.is_ok(),
                    unfinished: false,
                    host,
                });
                if grows {
                    t0 = Instant::now();
                }
            }
            None => {
                samples.push(Sample {
                    start_us,
                    latency_us,
                    ok: false,
                    unfinished: true,
                    host: None,
                });
                flush(&mut done, &mut failed);
                // The connection was cut mid-operation: drop it, do not reuse it.
                return samples;
            }
        }
    }
    flush(&mut done, &mut failed);
    let _ = tokio::time::timeout(DISCONNECT_BOUND, driver.disconnect()).await;
    samples
}

/// A progress bar on stderr, updated from the live counters; hidden when stderr is not a
/// terminal (tests, pipes).
fn progress(plan: &Plan, live: Arc<Live>, start: Instant) -> ProgressBar {
    let total = plan.duration.as_millis() as u64;
    let target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(total), target);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {elapsed_precise} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(plan.label.clone());
    let ticker = bar.clone();
    tokio::spawn(async move {
        while !ticker.is_finished() {
            let done = (start.elapsed().as_millis() as u64).min(total);
            ticker.set_position(done);
            ticker.set_message(format!(
                "{} statements, {} errors",
                live.statements.load(Ordering::Relaxed),
                live.errors.load(Ordering::Relaxed)
            ));
            if done >= total {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    bar
}
