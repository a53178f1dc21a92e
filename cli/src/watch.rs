//! `mysql-lb status --watch URL`: the library's events as they happen, one line each.
//!
//! The watch subscribes to `mysql_lb`'s events first, then builds a [`Balancer`] over the
//! URL's hosts (and, for a `mysql:replication://` or `mysql:galera://` URL, a
//! [`ReplicationPool`], whose monitor reports role changes and lag, or Galera nodes leaving
//! and rejoining rotation). Every `--interval` each host gets one
//! [`Balancer::check_host`] (a connect and a ping, bounded by `connect_timeout` and
//! `ping_timeout`): a failing host is blacklisted (an event), one that answers again comes
//! off the list (an event). Hosts are checked independently, at most one check per host at a
//! time, so a hung host does not delay the others.
//!
//! Before any event, one line per host says how the first check went. The watch ends after
//! `--for`, or on SIGINT/SIGTERM, with exit code 0.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mysql_lb::{Balancer, Event, EventKind, HostAddr, LbOpts, Mode, ReplicationPool};
use serde_json::{Value, json};
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::time::Instant;

use crate::{Outcome, input};

/// How a watch runs.
pub(crate) struct Watch {
    pub(crate) interval: Duration,
    pub(crate) length: Option<Duration>,
    pub(crate) json: bool,
}

pub(crate) fn run(opts: LbOpts, rt: tokio::runtime::Runtime, watch: Watch) -> Outcome {
    rt.block_on(watch_hosts(opts, watch))
}

/// Milliseconds since the Unix epoch.
fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

/// `<unix secs>.<ms>`, as the events print their time.
fn stamp(at: SystemTime) -> String {
    let ms = unix_ms(at);
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// Writes one line; false when stdout is gone (a closed pipe), which ends the watch.
fn emit_line(line: &str) -> bool {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").and_then(|()| out.flush()).is_ok()
}

async fn watch_hosts(opts: LbOpts, watch: Watch) -> Outcome {
    // First: nothing that happens from here on is missed.
    let mut events = mysql_lb::subscribe();
    let end = watch.length.map(|d| Instant::now() + d);
    let balancer = Balancer::new(opts.clone());
    let addrs: Vec<HostAddr> = opts.hosts().iter().map(|h| h.addr.clone()).collect();

    // The first round, awaited: one line per host before any event.
    let first: Vec<_> = addrs
        .iter()
        .map(|addr| {
            let (balancer, addr) = (balancer.clone(), addr.clone());
            tokio::spawn(async move {
                let at = SystemTime::now();
                (
                    at,
                    balancer.check_host(&addr).await.map_err(|e| e.to_string()),
                )
            })
        })
        .collect();
    for ((addr, spec), handle) in addrs.iter().zip(opts.hosts()).zip(first) {
        let (at, result) = handle
            .await
            .unwrap_or_else(|e| (SystemTime::now(), Err(format!("check task failed: {e}"))));
        let line = initial_line(at, addr, spec.role.as_str(), &result, watch.json);
        if !emit_line(&line) {
            return Outcome::Ok;
        }
    }

    // A replication pool's monitor reports roles and lag (node states on Galera); it lives as
    // long as the watch.
    let replication = matches!(opts.mode(), Mode::Replication | Mode::Galera).then(|| {
        let opts = opts.clone();
        tokio::spawn(async move {
            match ReplicationPool::new(opts).await {
                Ok(pool) => {
                    std::future::pending::<()>().await;
                    drop(pool);
                }
                Err(e) => eprintln!(
                    "mysql-lb: no replication monitor (roles and lag are not watched): {e}"
                ),
            }
        })
    });

    // One checker per host, each on its own schedule: a hung host delays only itself.
    let checkers: Vec<_> = addrs
        .iter()
        .map(|addr| tokio::spawn(check_loop(balancer.clone(), addr.clone(), watch.interval)))
        .collect();

    let stop = stop_signal();
    tokio::pin!(stop);
    let over = async {
        match end {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(over);
    loop {
        tokio::select! {
            biased;
            () = &mut stop => break,
            () = &mut over => break,
            received = events.recv() => {
                let line = match received {
                    Ok(event) => event_line(&event, watch.json),
                    Err(RecvError::Lagged(n)) => missed_line(n, watch.json),
                    Err(RecvError::Closed) => break,
                };
                if !emit_line(&line) {
                    break;
                }
            }
        }
    }
    for c in &checkers {
        c.abort();
    }
    if let Some(r) = &replication {
        r.abort();
    }
    // What arrived before the end is still printed.
    drain(&mut events, watch.json);
    Outcome::Ok
}

/// Prints what is already queued, without waiting.
fn drain(events: &mut Receiver<Event>, json: bool) {
    loop {
        let line = match events.try_recv() {
            Ok(event) => event_line(&event, json),
            Err(TryRecvError::Lagged(n)) => missed_line(n, json),
            Err(_) => return,
        };
        if !emit_line(&line) {
            return;
        }
    }
}

/// Checks `addr` every `interval` (from the start of one check to the next; a check that
/// takes longer is followed by the next at once).
async fn check_loop(balancer: Arc<Balancer>, addr: HostAddr, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate, and the first round was just done.
    tick.tick().await;
    loop {
        tick.tick().await;
        // The outcome shows as events: blacklisted on a host failure, back on success.
        let _ = balancer.check_host(&addr).await;
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The line for a host's first check.
fn initial_line(
    at: SystemTime,
    addr: &HostAddr,
    role: &str,
    result: &Result<Duration, String>,
    json: bool,
) -> String {
    if json {
        let mut v = json!({
            "at_ms": unix_ms(at),
            "kind": "initial",
            "host": addr.to_string(),
            "role": role,
            "up": result.is_ok(),
        });
        match result {
            Ok(rtt) => v["rtt_ms"] = json!(input::ms(*rtt)),
            Err(e) => v["error"] = json!(e),
        }
        return v.to_string();
    }
    match result {
        Ok(rtt) => format!(
            "{} host up: {addr} ({role}, ping {:.2} ms)",
            stamp(at),
            input::ms(*rtt)
        ),
        Err(e) => format!("{} host down: {addr} ({role}): {e}", stamp(at)),
    }
}

fn missed_line(n: u64, json: bool) -> String {
    let now = SystemTime::now();
    if json {
        json!({"at_ms": unix_ms(now), "kind": "missed", "count": n}).to_string()
    } else {
        format!(
            "{} missed {n} events (the watch fell behind; the oldest were dropped)",
            stamp(now)
        )
    }
}

/// One event as a line: its `Display`, or one JSON object.
pub(crate) fn event_line(event: &Event, json: bool) -> String {
    if json {
        event_json(event).to_string()
    } else {
        event.to_string()
    }
}

fn hosts_json(hosts: &[HostAddr]) -> Value {
    hosts.iter().map(|h| h.to_string()).collect()
}

/// `{"at_ms", "kind", ...the event's fields..., "text"}`; durations in milliseconds.
pub(crate) fn event_json(event: &Event) -> Value {
    let mut v = match &event.kind {
        EventKind::HostBlacklisted {
            host,
            timeout,
            reason,
        } => json!({
            "kind": "host_blacklisted",
            "host": host.to_string(),
            "timeout_ms": timeout.as_millis() as u64,
            "reason": reason,
        }),
        EventKind::HostBack { host } => json!({"kind": "host_back", "host": host.to_string()}),
        EventKind::Failover { from, to, reason } => json!({
            "kind": "failover",
            "from": from.to_string(),
            "to": to.to_string(),
            "reason": reason,
        }),
        EventKind::RolesChanged { writers, readers } => json!({
            "kind": "roles_changed",
            "writers": hosts_json(writers),
            "readers": hosts_json(readers),
        }),
        EventKind::ReplicaLagging { host, lag } => json!({
            "kind": "replica_lagging",
            "host": host.to_string(),
            "lag_s": lag.map(|l| l.as_secs()),
        }),
        EventKind::ReplicaCaughtUp { host } => {
            json!({"kind": "replica_caught_up", "host": host.to_string()})
        }
        EventKind::NodeOutOfRotation { host, state } => json!({
            "kind": "node_out_of_rotation",
            "host": host.to_string(),
            "state": state,
        }),
        EventKind::NodeInRotation { host } => {
            json!({"kind": "node_in_rotation", "host": host.to_string()})
        }
        EventKind::HostDiscovered { host } => {
            json!({"kind": "host_discovered", "host": host.to_string()})
        }
        EventKind::HostDropped { host } => {
            json!({"kind": "host_dropped", "host": host.to_string()})
        }
        EventKind::PoolExhausted {
            waited,
            hosts,
            busy,
        } => json!({
            "kind": "pool_exhausted",
            "waited_ms": waited.as_millis() as u64,
            "hosts": hosts,
            "busy": busy,
        }),
        // A kind this build does not know yet: its text says what it is.
        _ => json!({"kind": "other"}),
    };
    v["at_ms"] = json!(unix_ms(event.at));
    v["text"] = json!(event.kind.to_string());
    v
}
