//! `mysql-lb status URL [--json]`: every host of a connection string, checked directly.
//!
//! Each host gets its own bounded connection (not the balancer's), so a dead host shows as
//! unreachable instead of being skipped, and a hung one costs at most the connect timeout.
//! Hosts are checked concurrently. For a Galera URL each node's state is shown too (its
//! `wsrep_local_state_comment`, `wsrep_cluster_status` and `wsrep_cluster_size`): what a
//! `GaleraPool`'s monitor reads to keep a node in rotation or out.
//!
//! With `--watch` it keeps going and prints the library's events instead (`watch.rs`).

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_lb::{Balancer, Blacklist, HostAddr, LbOpts, Mode};
use serde_json::json;

use crate::table::Table;
use crate::{Outcome, input};

/// Arguments of `status`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The connection string, e.g. mysql://app:secret@db1:3306,db2:3306/shop
    url: String,
    /// Print one JSON object instead of a table (with --watch: one JSON object per line).
    #[arg(long)]
    json: bool,
    /// Keep checking every host and print events (blacklisted, back, failover, roles, lag)
    /// as they happen, one line each, until --for is over or SIGINT/SIGTERM.
    #[arg(long)]
    watch: bool,
    /// With --watch: how often each host is checked (connect and ping), e.g. 1s or 200ms.
    #[arg(long, default_value = "1s", value_parser = input::duration, requires = "watch")]
    interval: Duration,
    /// With --watch: stop after this long (default: run until interrupted).
    #[arg(long = "for", value_name = "DURATION", value_parser = input::duration, requires = "watch")]
    length: Option<Duration>,
}

/// What one host said.
struct HostStatus {
    addr: HostAddr,
    role: &'static str,
    result: Result<Probe, String>,
    blacklisted: Option<Duration>,
}

struct Probe {
    rtt: Duration,
    version: String,
    read_only: bool,
    /// `None`: not a replica; `Some(None)`: a replica whose lag is unknown (NULL).
    lag: Option<Option<u64>>,
    /// A Galera node's state, e.g. `Synced, Primary, 3 nodes` (Galera URLs only).
    galera: Option<String>,
}

/// A Galera node's local state, component and cluster size, in one statement that a node
/// without quorum still answers.
const GALERA_STATE: &str = "SELECT \
    (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS \
      WHERE VARIABLE_NAME = 'WSREP_LOCAL_STATE_COMMENT'), \
    (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS \
      WHERE VARIABLE_NAME = 'WSREP_CLUSTER_STATUS'), \
    (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS \
      WHERE VARIABLE_NAME = 'WSREP_CLUSTER_SIZE')";

pub(crate) fn run(args: Args) -> Outcome {
    let (opts, rt) = match input::opts_and_runtime(&args.url) {
        Ok(x) => x,
        Err(out) => return out,
    };
    if args.watch {
        if args.interval.is_zero() {
            return Outcome::BadInput("--interval must be more than 0".to_owned());
        }
        let watch = crate::watch::Watch {
            interval: args.interval,
            length: args.length,
            json: args.json,
        };
        return crate::watch::run(opts, rt, watch);
    }
    let statuses = rt.block_on(check_all(&opts));
    if args.json {
        println!("{}", to_json(&statuses));
    } else {
        print!("{}", to_table(&statuses));
    }
    if statuses.iter().any(|s| s.result.is_ok()) {
        Outcome::Ok
    } else {
        Outcome::Failed("no host is reachable".to_owned())
    }
}

async fn check_all(opts: &LbOpts) -> Vec<HostStatus> {
    let blacklist = Blacklist::global().snapshot();
    let balancer = Balancer::new(opts.clone());
    let checks = opts.hosts().iter().map(|spec| {
        let addr = spec.addr.clone();
        let balancer = balancer.clone();
        tokio::spawn(async move { probe(&balancer, &addr).await })
    });
    let mut out = Vec::new();
    for (spec, handle) in opts.hosts().iter().zip(checks.collect::<Vec<_>>()) {
        let result = handle
            .await
            .unwrap_or_else(|e| Err(format!("check task failed: {e}")));
        out.push(HostStatus {
            addr: spec.addr.clone(),
            role: spec.role.as_str(),
            result,
            blacklisted: blacklist
                .iter()
                .find(|e| e.addr == spec.addr)
                .map(|e| e.remaining),
        });
    }
    out
}

/// Connects to `addr` alone, bounded by the connect timeout, and asks it about itself; each
/// statement is bounded by the same timeout.
async fn probe(balancer: &Balancer, addr: &HostAddr) -> Result<Probe, String> {
    let bound = balancer.opts().connect_timeout();
    let galera = balancer.opts().mode() == Mode::Galera;
    // Through the balancer's dialer: TLS as the URL says, every step bounded.
    let mut conn = balancer
        .connect_host(addr)
        .await
        .map_err(|e| e.to_string())?;
    let result = async {
        let ping = Instant::now();
        conn.ping().await?;
        let rtt = ping.elapsed();
        let (version, read_only): (String, bool) = conn
            .query_first("SELECT VERSION(), @@read_only")
            .await?
            .unwrap_or_default();
        let mut replica = conn.query_iter("SHOW SLAVE STATUS").await?;
        let rows: Vec<mysql_async::Row> = replica.collect().await?;
        drop(replica);
        let lag = rows
            .first()
            .map(|row| row.get_opt::<Option<u64>, _>("Seconds_Behind_Master"))
            .map(|v| v.and_then(Result::ok).flatten());
        let galera = if galera {
            let row: Option<(Option<String>, Option<String>, Option<String>)> =
                conn.query_first(GALERA_STATE).await?;
            Some(match row {
                Some((Some(state), Some(component), Some(size))) => {
                    format!("{state}, {component}, {size} nodes")
                }
                _ => "no Galera status".to_owned(),
            })
        } else {
            None
        };
        Ok::<_, mysql_async::Error>(Probe {
            rtt,
            version,
            read_only,
            lag,
            galera,
        })
    };
    let probe = tokio::time::timeout(bound, result).await;
    match probe {
        Ok(Ok(p)) => {
            let _ = tokio::time::timeout(bound, conn.disconnect()).await;
            Ok(p)
        }
        // A timed-out connection is dropped, never reused.
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {bound:?}")),
    }
}

fn lag_text(lag: &Option<Option<u64>>) -> String {
    match lag {
        None => "-".to_owned(),
        Some(None) => "NULL".to_owned(),
        Some(Some(s)) => format!("{s} s"),
    }
}

fn to_table(statuses: &[HostStatus]) -> String {
    let galera = statuses
        .iter()
        .any(|s| s.result.as_ref().is_ok_and(|p| p.galera.is_some()));
    // A Galera node has no replica lag: the column shows its state instead.
    let mut t = Table::new([
        "host",
        "role",
        "reachable",
        "rtt ms",
        "version",
        "read_only",
        if galera { "node state" } else { "lag" },
        "blacklisted",
    ]);
    for s in statuses {
        let black = s.blacklisted.map_or_else(
            || "no".to_owned(),
            |d| format!("{:.1} s more", d.as_secs_f64()),
        );
        match &s.result {
            Ok(p) => t.row([
                s.addr.to_string(),
                s.role.to_owned(),
                "yes".to_owned(),
                format!("{:.2}", input::ms(p.rtt)),
                p.version.clone(),
                u8::from(p.read_only).to_string(),
                p.galera.clone().unwrap_or_else(|| lag_text(&p.lag)),
                black,
            ]),
            Err(e) => t.row([
                s.addr.to_string(),
                s.role.to_owned(),
                format!("no: {e}"),
                "-".to_owned(),
                "-".to_owned(),
                "-".to_owned(),
                "-".to_owned(),
                black,
            ]),
        }
    }
    t.render()
}

fn to_json(statuses: &[HostStatus]) -> serde_json::Value {
    let hosts: Vec<_> = statuses
        .iter()
        .map(|s| {
            let blacklisted = json!({
                "blacklisted": s.blacklisted.is_some(),
                "blacklisted_for_ms": s.blacklisted.map(|d| d.as_millis() as u64),
            });
            let mut v = match &s.result {
                Ok(p) => json!({
                    "host": s.addr.to_string(),
                    "role": s.role,
                    "reachable": true,
                    "rtt_ms": input::ms(p.rtt),
                    "version": p.version,
                    "read_only": p.read_only,
                    "replica": p.lag.is_some(),
                    "lag_s": p.lag.flatten(),
                    "galera_state": p.galera,
                }),
                Err(e) => json!({
                    "host": s.addr.to_string(),
                    "role": s.role,
                    "reachable": false,
                    "error": e,
                }),
            };
            if let (Some(obj), Some(extra)) = (v.as_object_mut(), blacklisted.as_object()) {
                obj.extend(extra.clone());
            }
            v
        })
        .collect();
    json!({
        "reachable": statuses.iter().filter(|s| s.result.is_ok()).count(),
        "hosts": hosts,
    })
}
