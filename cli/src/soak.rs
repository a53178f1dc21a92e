//! `mysql-lb soak`: counted writes under random faults, checked against the rows present.
//!
//! The crate's promise is that a caller is never wrong about its data: every write is told
//! Ok, "not applied" or "unknown" (see `mysql_lb::Error::outcome`), and what it is told
//! must match what the servers hold. A unit test checks one failure at a time; this command
//! checks the promise under a long, random mix of them, against real servers.
//!
//! How:
//! - `--sandbox N` servers are started, each behind a `FaultProxy`; the URL lists the
//!   proxies, so proxy faults reach the client. App traffic uses the sandbox's non-SUPER
//!   `APP_USER`, for whom `max_connections` holds.
//! - Every server has `lbsoak.soak(k, part)`, deliberately without a unique key: a write
//!   that happened twice shows as two rows. Every attempt writes a key of its own,
//!   `"{task}-{seq}"`, so each row names the one attempt that made it.
//! - Half the tasks keep one `LoadBalancedConnection` each, the other half share a
//!   `LoadBalancedPool` and check out per operation (`soak/load.rs`). They read, insert in
//!   autocommit, or insert 2-3 parts of one key in a transaction, and record what they were
//!   told about every write.
//! - Meanwhile one fault at a time hits a random server: SIGKILL, SIGSTOP, `KILL
//!   CONNECTION`, a low `max_connections`, a proxy reset or blackhole (`soak/chaos.rs`).
//! - At the end faults are undone, handles and the pool disconnected, the rows of every
//!   server read over admin sessions and merged, and each answer checked against them
//!   (`soak/ledger.rs`). Exit code 1 when a row that must be 0 is not.
//!
//! The seed drives which operations the tasks pick and which faults come when; timing still
//! differs between runs, so a seed repeats the mix, not the exact interleaving.

mod chaos;
mod ledger;
mod load;

use std::sync::Arc;
use std::time::Duration;

use mysql_lb::{LoadBalancedConnection, LoadBalancedPool};
use mysql_lb_sandbox::{APP_PASSWORD, APP_USER, FaultProxy, Sandbox};
use rand::RngExt;
use tokio::sync::watch;
use tokio::time::Instant;

use self::chaos::Chaos;
use self::ledger::{Report, Setup};
use self::load::Tally;
use crate::{Outcome, input};

/// Arguments of `soak`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// How many MariaDB servers to start (each behind a fault proxy); stopped at the end.
    #[arg(long, value_name = "N", default_value_t = 3)]
    sandbox: usize,
    /// How long to run the load, e.g. 60s or 10m.
    #[arg(long, short = 'd', default_value = "60s", value_parser = input::duration)]
    duration: Duration,
    /// Number of tasks: half keep one connection each, half share a pool.
    #[arg(long, short = 'c', default_value_t = 8)]
    tasks: usize,
    /// Seed of the operation mix and fault schedule (random if not given; always printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Print one JSON object on stdout instead of the tables.
    #[arg(long)]
    json: bool,
    /// Query options of the connection string, e.g. 'socket_timeout=1s&blacklist_timeout=5s'.
    #[arg(long, default_value = DEFAULT_OPTIONS)]
    options: String,
}

/// Tight bounds, so a fault is noticed in seconds and many faults fit in a run.
const DEFAULT_OPTIONS: &str =
    "connect_timeout=1s&socket_timeout=2s&blacklist_timeout=2s&idle_ping_after=200ms";
/// Most servers (each takes a few hundred MB of address space).
const MAX_SERVERS: usize = 9;
/// Most tasks.
const MAX_TASKS: usize = 1024;
/// The database and table every server gets. No unique key: doubled writes must show.
const SETUP_SQL: &str = "CREATE DATABASE IF NOT EXISTS lbsoak; \
     CREATE TABLE IF NOT EXISTS lbsoak.soak (k VARCHAR(64) NOT NULL, part TINYINT NOT NULL, KEY(k))";
/// Bound on each disconnect at the end (every server runs again by then).
const DISCONNECT_BOUND: Duration = Duration::from_secs(5);

pub(crate) fn run(args: Args) -> Outcome {
    let rss_start = ledger::rss_kb();
    if let Err(msg) = check(&args) {
        return Outcome::BadInput(msg);
    }
    let options = args.options.trim_start_matches('?').to_owned();
    // Bad options are reported before any server starts.
    if let Err(out) = input::lb_opts(&format!("mysql://127.0.0.1/?{options}")) {
        return out;
    }
    let seed = args.seed.unwrap_or_else(|| rand::rng().random());
    let rt = match input::runtime() {
        Ok(rt) => rt,
        Err(out) => return out,
    };
    rt.block_on(async {
        tokio::select! {
            out = soak(&args, &options, seed, rss_start) => out,
            // Dropping the future and then the runtime (with its tasks) drops the sandbox,
            // which stops its servers.
            _ = tokio::signal::ctrl_c() => Outcome::Failed("interrupted".to_owned()),
        }
    })
}

fn check(args: &Args) -> Result<(), String> {
    if args.sandbox == 0 || args.sandbox > MAX_SERVERS {
        return Err(format!(
            "--sandbox {}: use 1 to {MAX_SERVERS}",
            args.sandbox
        ));
    }
    if args.tasks == 0 || args.tasks > MAX_TASKS {
        return Err(format!("--tasks {}: use 1 to {MAX_TASKS}", args.tasks));
    }
    if args.duration.is_zero() {
        return Err("--duration must be more than 0".to_owned());
    }
    Ok(())
}

async fn soak(args: &Args, options: &str, seed: u64, rss_start: Option<u64>) -> Outcome {
    let sb = match Sandbox::start(args.sandbox).await {
        Ok(sb) => Arc::new(sb),
        Err(e) => return Outcome::Failed(format!("starting the sandbox: {e}")),
    };
    let mut proxies = Vec::with_capacity(sb.len());
    for i in 0..sb.len() {
        match FaultProxy::start(sb.addr(i)).await {
            Ok(p) => proxies.push(p),
            Err(e) => return Outcome::Failed(format!("starting the proxy of server {i}: {e}")),
        }
    }
    let proxies = Arc::new(proxies);
    let max_connections = match prepare(&sb).await {
        Ok(m) => m,
        Err(msg) => return Outcome::Failed(msg),
    };
    let opts = match input::lb_opts(&app_url(&proxies, options)) {
        Ok(o) => o,
        Err(out) => return out,
    };
    let header = format!(
        "soak: {} servers behind fault proxies, {} tasks ({} with a connection each, {} on a \
         pool), {:?}, seed {seed}\noptions: {options}",
        sb.len(),
        args.tasks,
        args.tasks.div_ceil(2),
        args.tasks / 2,
        args.duration,
    );
    // stdout carries only the JSON object with --json.
    if args.json {
        eprintln!("{header}");
    } else {
        println!("{header}");
    }

    let start = Instant::now();
    let deadline = start + args.duration;
    let (stop, stopped) = watch::channel(false);
    let chaos = Chaos::new(sb.clone(), proxies.clone(), seed, start, stopped);
    let chaos = tokio::spawn(chaos.run());
    let pool = LoadBalancedPool::new(opts.clone());
    let tasks: Vec<_> = (0..args.tasks)
        .map(|id| {
            let (opts, pool) = (opts.clone(), pool.clone());
            tokio::spawn(load::task(id, seed, opts, pool, start, deadline))
        })
        .collect();

    // The tasks stop by themselves at the deadline; the faults are told to.
    tokio::time::sleep_until(deadline).await;
    let _ = stop.send(true);
    let faults = chaos.await.unwrap_or_default();
    chaos::heal(&sb, &proxies, &max_connections).await;
    let mut tallies = Vec::new();
    let mut handles = Vec::new();
    for t in tasks {
        match t.await {
            Ok((tally, handle)) => {
                tallies.push(tally);
                handles.extend(handle);
            }
            Err(e) => return Outcome::Failed(format!("a load task failed: {e}")),
        }
    }
    disconnect(handles, &pool).await;
    let left = ledger::app_connections_left(&sb).await;
    // Before the rows are read: their map is the soak's, not the library's, memory.
    let rss_end = ledger::rss_kb();
    let present = match ledger::read_rows(&sb).await {
        Ok(p) => p,
        Err(msg) => return Outcome::Failed(msg),
    };
    let setup = Setup {
        servers: sb.len(),
        tasks: args.tasks,
        duration: args.duration,
        seed,
        options: options.to_owned(),
    };
    let report = Report::new(
        setup,
        Tally::merge(tallies),
        &present,
        faults,
        left,
        (rss_start, rss_end),
    );
    if args.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.text());
    }
    // The proxies and the sandbox go when the last reference is dropped, here.
    drop(proxies);
    match report.violations() {
        0 => Outcome::Ok,
        n => Outcome::Failed(format!(
            "{n} answers did not match the data (repeat with --seed {seed})"
        )),
    }
}

/// Creates the table on every server; returns each server's `max_connections`, which a fault
/// lowers and the end restores.
async fn prepare(sb: &Sandbox) -> Result<Vec<u64>, String> {
    let mut max = Vec::with_capacity(sb.len());
    for i in 0..sb.len() {
        sb.exec(i, SETUP_SQL)
            .await
            .map_err(|e| format!("creating the table on server {i}: {e}"))?;
        let rows = sb
            .sql(i, "SELECT @@global.max_connections")
            .await
            .map_err(|e| format!("reading max_connections of server {i}: {e}"))?;
        max.push(rows.first().and_then(|r| r.get(0)).unwrap_or(151));
    }
    Ok(max)
}

/// The app user's URL over the proxies, with the user's query options.
fn app_url(proxies: &[FaultProxy], options: &str) -> String {
    let hosts: Vec<String> = proxies
        .iter()
        .map(|p| format!("127.0.0.1:{}", p.port()))
        .collect();
    format!(
        "mysql://{APP_USER}:{APP_PASSWORD}@{}/lbsoak?{options}",
        hosts.join(",")
    )
}

/// Closes the connection tasks' handles and the pool, each bounded.
async fn disconnect(handles: Vec<LoadBalancedConnection>, pool: &LoadBalancedPool) {
    for h in handles {
        let _ = tokio::time::timeout(DISCONNECT_BOUND, h.disconnect()).await;
    }
    let _ = tokio::time::timeout(DISCONNECT_BOUND, pool.disconnect()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_options_parse() {
        let url = format!("mysql://127.0.0.1/?{DEFAULT_OPTIONS}");
        assert!(url.parse::<mysql_lb::LbOpts>().is_ok());
    }
}
