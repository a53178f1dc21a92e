//! `mysql-lb demo`: the main job, with no database of the user's.
//!
//! Starts three MariaDB servers, runs 8 tasks of reads for 25 s while a schedule SIGKILLs
//! server 1 at 5 s, restarts it at 12 s, and SIGSTOPs server 2 from 15 s to 19 s; then runs
//! the identical schedule on fresh servers with the emulation of Connector/J's
//! `autoReconnect=true, maxReconnects=3, initialTimeout=5` (the article's settings, unscaled).
//! Both use the same bounds (`connect_timeout=1s`, `socket_timeout=1s`). Prints a table per
//! driver and phase and writes one chart with both runs.
//!
//! A hidden `--time-scale` shrinks every time (schedule, duration, initialTimeout) so tests
//! can run a short version.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mysql_lb_sandbox::Sandbox;

use crate::autoreconnect::{ARTICLE_INITIAL_TIMEOUT, DEFAULT_MAX_RECONNECTS};
use crate::driver::{Kind, Reconnect};
use crate::faults::{Fault, Kind as FaultKind, Target};
use crate::plot::{self, COLORS, Series};
use crate::recorder::Run;
use crate::table::{Table, num};
use crate::workload::{self, Plan};
use crate::{Outcome, bench, input};

/// Arguments of `demo`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Where to write demo.png.
    #[arg(long, default_value = "target/demo")]
    out: PathBuf,
    /// Multiplies every time of the demo (for quick runs in tests).
    #[arg(long, default_value_t = 1.0, hide = true)]
    time_scale: f64,
}

/// The bounds both drivers get.
const QUERY_OPTIONS: &str = "connect_timeout=1s&socket_timeout=1s";
const TASKS: usize = 8;
const SQL: &str = "SELECT @@port";
const SERVERS: usize = 3;

/// The schedule, in seconds at scale 1.
const RUN_S: f64 = 25.0;
const KILL_S: f64 = 5.0;
const RESTART_S: f64 = 12.0;
const PAUSE_S: f64 = 15.0;
const RESUME_S: f64 = 19.0;

pub(crate) fn run(args: Args) -> Outcome {
    if !(args.time_scale.is_finite() && args.time_scale > 0.0 && args.time_scale <= 10.0) {
        return Outcome::BadInput(format!(
            "--time-scale {}: use a number in (0, 10]",
            args.time_scale
        ));
    }
    if let Err(e) = std::fs::create_dir_all(&args.out) {
        return Outcome::Failed(format!("creating {}: {e}", args.out.display()));
    }
    let rt = match input::runtime() {
        Ok(rt) => rt,
        Err(out) => return out,
    };
    rt.block_on(async {
        tokio::select! {
            out = demo(&args) => out,
            // Dropping the demo future drops the sandbox, which stops its servers.
            _ = tokio::signal::ctrl_c() => Outcome::Failed("interrupted".to_owned()),
        }
    })
}

fn at(scale: f64, s: f64) -> Duration {
    Duration::from_secs_f64(s * scale)
}

fn schedule(scale: f64) -> Vec<Fault> {
    vec![
        Fault {
            kind: FaultKind::Kill,
            target: Target::Index(1),
            at: at(scale, KILL_S),
        },
        Fault {
            kind: FaultKind::Restart,
            target: Target::Index(1),
            at: at(scale, RESTART_S),
        },
        Fault {
            kind: FaultKind::Pause {
                until: at(scale, RESUME_S),
            },
            target: Target::Index(2),
            at: at(scale, PAUSE_S),
        },
    ]
}

/// The phases the table reports, as windows of the run.
fn phases(scale: f64) -> [(&'static str, Duration, Duration); 5] {
    [
        ("healthy", at(scale, 0.0), at(scale, KILL_S)),
        ("after kill", at(scale, KILL_S), at(scale, RESTART_S)),
        ("restarted", at(scale, RESTART_S), at(scale, PAUSE_S)),
        ("during pause", at(scale, PAUSE_S), at(scale, RESUME_S)),
        ("recovered", at(scale, RESUME_S), at(scale, RUN_S)),
    ]
}

async fn demo(args: &Args) -> Outcome {
    let scale = args.time_scale;
    let reconnect = Reconnect {
        max_reconnects: DEFAULT_MAX_RECONNECTS,
        initial_timeout: ARTICLE_INITIAL_TIMEOUT.mul_f64(scale),
    };
    println!(
        "demo: {SERVERS} MariaDB servers, {TASKS} tasks of `{SQL}`, {:.1} s per driver; \
         kill server 1 at {:.1} s, restart it at {:.1} s, pause server 2 from {:.1} s to {:.1} s",
        RUN_S * scale,
        KILL_S * scale,
        RESTART_S * scale,
        PAUSE_S * scale,
        RESUME_S * scale
    );
    println!(
        "bounds for both: {QUERY_OPTIONS}; autoreconnect: maxReconnects={}, initialTimeout={:?}",
        reconnect.max_reconnects, reconnect.initial_timeout
    );
    let mut runs = Vec::new();
    for driver in [Kind::Lb, Kind::Autoreconnect] {
        // Fresh servers per driver: the second run starts from the same state as the first.
        let sb = match Sandbox::start(SERVERS).await {
            Ok(sb) => Arc::new(sb),
            Err(e) => return Outcome::Failed(format!("starting the sandbox: {e}")),
        };
        let opts = match bench::sandbox_opts(&sb, Some(&format!("?{QUERY_OPTIONS}"))) {
            Ok(o) => o,
            Err(out) => return out,
        };
        let faults = schedule(scale)
            .into_iter()
            .map(|f| match f.target {
                Target::Index(i) => (f, i),
                Target::Port(_) => unreachable!("the demo schedule names indexes"),
            })
            .collect();
        let plan = Plan {
            opts,
            sql: SQL.to_owned(),
            concurrency: TASKS,
            duration: at(scale, RUN_S),
            driver,
            reconnect,
            faults,
            sandbox: Some(sb),
            label: format!("demo {}", driver.name()),
            spread: input::Spread::default(),
            print_t0: false,
        };
        let run = workload::run(plan).await;
        eprintln!("demo: {} run done", driver.name());
        runs.push((driver, run));
    }
    print!("{}", phase_table(&runs, scale));
    let chart = args.out.join("demo.png");
    let timelines: Vec<_> = runs.iter().map(|(d, r)| (d.name(), r.timeline())).collect();
    let series: Vec<Series<'_>> = timelines
        .iter()
        .zip(COLORS)
        .map(|((label, t), color)| Series {
            label,
            timeline: t,
            color,
        })
        .collect();
    let title = format!(
        "{TASKS} tasks of reads over {SERVERS} MariaDB servers: mysql_lb vs autoReconnect emulation"
    );
    if let Err(e) = plot::draw(&chart, &title, &series, &runs[0].1.faults, &[]) {
        return Outcome::Failed(format!("writing {}: {e}", chart.display()));
    }
    println!("chart: {}", chart.display());
    Outcome::Ok
}

fn phase_table(runs: &[(Kind, Run)], scale: f64) -> String {
    let mut t = Table::new([
        "driver", "phase", "window s", "stmt/s", "errors", "p99 ms", "max ms",
    ])
    .numeric(3);
    for (driver, run) in runs {
        for (name, from, to) in phases(scale) {
            let s = run.window(from, to);
            t.row([
                driver.name().to_owned(),
                name.to_owned(),
                format!("{:.1}-{:.1}", from.as_secs_f64(), to.as_secs_f64()),
                num(s.qps),
                s.errors.to_string(),
                num(s.p99_ms),
                num(s.max_ms),
            ]);
        }
        let all = run.overall();
        t.row([
            driver.name().to_owned(),
            "whole run".to_owned(),
            format!("0-{:.1}", run.duration.as_secs_f64()),
            num(all.qps),
            all.errors.to_string(),
            num(all.p99_ms),
            num(all.max_ms),
        ]);
    }
    t.render()
}
