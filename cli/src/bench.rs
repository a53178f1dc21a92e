//! `mysql-lb bench`: N tasks run one statement in a loop for a while, through `mysql_lb` or
//! the autoReconnect emulation, optionally against a sandbox with a fault schedule; then
//! throughput and latency overall, per host and per second, as tables or one JSON object,
//! with an optional chart and per-statement CSV.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mysql_lb::{LbOpts, LoadBalancedConnection};
use mysql_lb_sandbox::Sandbox;

use crate::autoreconnect::DEFAULT_MAX_RECONNECTS;
use crate::driver::{Kind, Reconnect};
use crate::faults::{self, Fault};
use crate::input::{Flavor, MAX_THREADS, Runtimes};
use crate::plot::{self, COLORS, Series};
use crate::recorder::Run;
use crate::workload::{self, Plan};
use crate::{Outcome, failure, input, report};

/// Arguments of `bench`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The connection string. With --sandbox it is optional and only its query options are
    /// used (the hosts and account are the sandbox's): `'?socket_timeout=1s'` will do.
    url: Option<String>,
    /// Number of tasks, each with its own connection.
    #[arg(long, short = 'c', default_value_t = 8)]
    concurrency: usize,
    /// How long to run, e.g. 10s or 500ms.
    #[arg(long, short = 'd', default_value = "10s", value_parser = input::duration)]
    duration: Duration,
    /// The statement each task runs in a loop.
    #[arg(long, default_value = "SELECT @@port")]
    sql: String,
    /// Print one JSON object on stdout instead of tables.
    #[arg(long)]
    json: bool,
    /// Write a per-second latency and throughput chart (.png or .svg).
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
    /// Write one CSV line per statement: t_ms,latency_us,ok,host.
    #[arg(long, value_name = "FILE")]
    samples: Option<PathBuf>,
    /// Start N MariaDB servers for the bench and stop them after.
    #[arg(long, value_name = "N")]
    sandbox: Option<usize>,
    /// A fault on a sandbox server: kill:HOST@3s, pause:HOST@3s-9s, restart:HOST@8s; HOST is
    /// a server index (0-based) or 127.0.0.1:PORT. Repeatable; needs --sandbox.
    #[arg(long, value_name = "SPEC", value_parser = faults::parse)]
    fault: Vec<Fault>,
    /// lb: mysql_lb. autoreconnect: Connector/J's autoReconnect=true, emulated.
    #[arg(long, value_enum, default_value_t = Kind::Lb)]
    driver: Kind,
    /// autoreconnect: connect attempts per host before giving up (Connector/J's maxReconnects).
    #[arg(long, default_value_t = DEFAULT_MAX_RECONNECTS)]
    max_reconnects: u32,
    /// The tokio runtime the tasks run on. current-thread: --threads single-threaded runtimes,
    /// each on its own thread, the tasks dealt among them; a task never leaves its thread and
    /// an answer wakes it where it runs. multi-thread: tokio's work-stealing scheduler with
    /// --threads workers. See docs/throughput.md for what each costs.
    #[arg(long, value_enum, default_value_t = Flavor::CurrentThread)]
    runtime: Flavor,
    /// Threads for --runtime: default one per core (for current-thread, at most one per
    /// task). --threads 1 with current-thread: the least CPU per statement, at most one core.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Print `bench: t0_epoch_ms=N` on stderr when the run's clock starts (the samples' t_ms
    /// count from it), for scripts that time faults from it (scripts/compare.sh).
    #[arg(long, hide = true)]
    print_t0: bool,
    /// autoreconnect: sleep between attempts (Connector/J's initialTimeout; default 2 s there,
    /// 5 s in the article this emulates).
    #[arg(long, default_value = "5s", value_parser = input::duration)]
    initial_timeout: Duration,
}

/// Most servers a bench sandbox may start.
const MAX_SANDBOX: usize = 16;
/// Most tasks.
const MAX_CONCURRENCY: usize = 4096;

pub(crate) fn run(args: Args) -> Outcome {
    if let Err(msg) = check(&args) {
        return Outcome::BadInput(msg);
    }
    // Bad URLs are reported before any server starts.
    let user_opts = match (&args.url, args.sandbox) {
        // Only the query options count: check them alone, so `?socket_timeout=1s` will do.
        (Some(url), Some(_)) => match input::lb_opts(&with_query("mysql://127.0.0.1/", url)) {
            Ok(_) => None,
            Err(out) => return out,
        },
        (Some(url), None) => match input::lb_opts(url) {
            Ok(o) => Some(o),
            Err(out) => return out,
        },
        (None, _) => None,
    };
    let threads = threads(&args);
    let rts = match Runtimes::build(args.runtime, threads) {
        Ok(rts) => rts,
        Err(out) => return out,
    };
    let spread = rts.spread();
    rts.main.block_on(async {
        tokio::select! {
            out = bench(args, user_opts, spread) => out,
            // Dropping the bench future drops the sandbox, which stops its servers.
            _ = tokio::signal::ctrl_c() => Outcome::Failed("interrupted".to_owned()),
        }
    })
}

/// The runtime's thread count: --threads, or the default for --runtime and the task count.
fn threads(args: &Args) -> usize {
    args.threads
        .unwrap_or_else(|| args.runtime.default_threads(args.concurrency))
}

fn check(args: &Args) -> Result<(), String> {
    if args.concurrency == 0 || args.concurrency > MAX_CONCURRENCY {
        return Err(format!(
            "--concurrency {}: use 1 to {MAX_CONCURRENCY}",
            args.concurrency
        ));
    }
    if args.duration.is_zero() {
        return Err("--duration must be more than 0".to_owned());
    }
    if !args.fault.is_empty() && args.sandbox.is_none() {
        return Err(
            "--fault needs --sandbox N (faults are only done to servers we started)".to_owned(),
        );
    }
    match args.sandbox {
        Some(n) if n == 0 || n > MAX_SANDBOX => {
            return Err(format!("--sandbox {n}: use 1 to {MAX_SANDBOX}"));
        }
        None if args.url.is_none() => return Err("give a URL, or --sandbox N".to_owned()),
        _ => {}
    }
    if let Some(n) = args.threads
        && (n == 0 || n > MAX_THREADS)
    {
        return Err(format!("--threads {n}: use 1 to {MAX_THREADS}"));
    }
    if args.max_reconnects == 0 {
        return Err("--max-reconnects must be at least 1".to_owned());
    }
    for path in [&args.plot, &args.samples].into_iter().flatten() {
        if path.as_os_str().is_empty() {
            return Err("an output file name is empty".to_owned());
        }
    }
    if let Some(p) = &args.plot {
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !ext.eq_ignore_ascii_case("png") && !ext.eq_ignore_ascii_case("svg") {
            return Err(format!(
                "--plot {}: the name must end in .png or .svg",
                p.display()
            ));
        }
    }
    Ok(())
}

/// `base` (ending in `/`) with the query options of `url` (a whole URL or just `?a=b`).
fn with_query(base: &str, url: &str) -> String {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    format!("{base}?{query}")
}

/// The sandbox's URL, keeping the query options of `url` if one was given.
pub(crate) fn sandbox_opts(sb: &Sandbox, url: Option<&str>) -> Result<LbOpts, Outcome> {
    input::lb_opts(&with_query(&sb.url(), url.unwrap_or("")))
}

async fn bench(args: Args, user_opts: Option<LbOpts>, spread: input::Spread) -> Outcome {
    let sandbox = match args.sandbox {
        Some(n) => match Sandbox::start(n).await {
            Ok(sb) => Some(Arc::new(sb)),
            Err(e) => return Outcome::Failed(format!("starting the sandbox: {e}")),
        },
        None => None,
    };
    let opts = match (&sandbox, user_opts) {
        (Some(sb), _) => match sandbox_opts(sb, args.url.as_deref()) {
            Ok(o) => o,
            Err(out) => return out,
        },
        (None, Some(o)) => o,
        (None, None) => return Outcome::BadInput("give a URL, or --sandbox N".to_owned()),
    };
    let mut resolved = Vec::new();
    if let Some(sb) = &sandbox {
        for f in &args.fault {
            match f.resolve(sb) {
                Ok(i) => resolved.push((f.clone(), i)),
                Err(msg) => return Outcome::BadInput(msg),
            }
        }
    }
    // One connect first: a bench against no reachable host is a failure, not a table of errors.
    match LoadBalancedConnection::connect(opts.clone()).await {
        Ok(c) => c.disconnect().await,
        Err(e) => return failure::connect_outcome(&e),
    }
    let plan = Plan {
        opts,
        sql: args.sql.clone(),
        concurrency: args.concurrency,
        duration: args.duration,
        driver: args.driver,
        reconnect: Reconnect {
            max_reconnects: args.max_reconnects,
            initial_timeout: args.initial_timeout,
        },
        faults: resolved,
        sandbox,
        label: format!("bench {}", args.driver.name()),
        spread,
        print_t0: args.print_t0,
    };
    // The plan owns the sandbox: its servers stop when the run is over.
    let run = workload::run(plan).await;
    finish(&args, &run)
}

fn finish(args: &Args, run: &Run) -> Outcome {
    let driver = args.driver.name();
    if let Some(path) = &args.samples
        && let Err(e) = report::write_samples(run, path)
    {
        return Outcome::Failed(format!("writing {}: {e}", path.display()));
    }
    if let Some(path) = &args.plot {
        let timeline = run.timeline();
        let series = [Series {
            label: driver,
            timeline: &timeline,
            color: COLORS[0],
        }];
        let title = format!("mysql-lb bench: {} tasks, {driver}", args.concurrency);
        if let Err(e) = plot::draw(path, &title, &series, &run.faults, &run.events) {
            return Outcome::Failed(format!("writing {}: {e}", path.display()));
        }
    }
    if args.json {
        let mut v = report::json(run, driver, &args.sql, args.concurrency);
        if let Some(obj) = v.as_object_mut() {
            obj.insert("runtime".to_owned(), args.runtime.name().into());
            obj.insert("threads".to_owned(), threads(args).into());
        }
        println!("{v}");
    } else {
        print!("{}", report::text(run, driver));
        for (what, path) in [("chart", &args.plot), ("samples", &args.samples)] {
            if let Some(p) = path {
                println!("{what}: {}", p.display());
            }
        }
    }
    Outcome::Ok
}
