//! Fault specs (`kill:1@3s`, `pause:127.0.0.1:4000@3s-9s`, `restart:1@8s`) and the task that
//! carries them out on a sandbox at their times, recording when each really happened.
//!
//! Actions run one after the other in time order: a restart waits until its server is ready,
//! which can push the next action back; the record shows the real times, not the planned ones.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mysql_lb_sandbox::Sandbox;
use serde::Serialize;
use tokio::time::Instant;

use crate::input;

/// Which server a fault hits: an index into the sandbox, or its port on 127.0.0.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Index(usize),
    Port(u16),
}

/// What a fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// SIGKILL.
    Kill,
    /// SIGSTOP, then SIGCONT at the given offset.
    Pause { until: Duration },
    /// Start again on the same port (killing it first if it runs).
    Restart,
}

/// One `--fault` spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fault {
    pub(crate) kind: Kind,
    pub(crate) target: Target,
    pub(crate) at: Duration,
}

/// A clap value parser for `KIND:HOST@TIME` (pause: `@FROM-TO`); errors name the bad part.
pub(crate) fn parse(spec: &str) -> Result<Fault, String> {
    let (kind, rest) = spec
        .split_once(':')
        .ok_or_else(|| format!("`{spec}`: expected KIND:HOST@TIME, e.g. kill:1@3s"))?;
    let (host, time) = rest
        .rsplit_once('@')
        .ok_or_else(|| format!("`{rest}`: expected HOST@TIME, e.g. 1@3s"))?;
    let target = parse_target(host)?;
    let at_time = |t: &str| input::duration(t).map_err(|e| format!("time `{t}`: {e}"));
    let (kind, at) = match kind {
        "kill" => (Kind::Kill, at_time(time)?),
        "restart" => (Kind::Restart, at_time(time)?),
        "pause" => {
            let (from, to) = time
                .split_once('-')
                .ok_or_else(|| format!("`{time}`: a pause needs FROM-TO, e.g. 3s-9s"))?;
            let (from, to) = (at_time(from)?, at_time(to)?);
            if to <= from {
                return Err(format!("`{time}`: the pause must end after it starts"));
            }
            (Kind::Pause { until: to }, from)
        }
        other => {
            return Err(format!("fault kind `{other}`: use kill, pause or restart"));
        }
    };
    Ok(Fault { kind, target, at })
}

fn parse_target(host: &str) -> Result<Target, String> {
    if let Ok(i) = host.parse::<usize>() {
        return Ok(Target::Index(i));
    }
    let port = host
        .strip_prefix("127.0.0.1:")
        .and_then(|p| p.parse::<u16>().ok())
        .ok_or_else(|| {
            format!("host `{host}`: use a server index (0, 1, ...) or 127.0.0.1:PORT")
        })?;
    Ok(Target::Port(port))
}

impl Fault {
    /// The sandbox index this fault hits, or why it names no server of the sandbox.
    pub(crate) fn resolve(&self, sb: &Sandbox) -> Result<usize, String> {
        match self.target {
            Target::Index(i) if i < sb.len() => Ok(i),
            Target::Index(i) => Err(format!(
                "fault host {i}: the sandbox has servers 0 to {}",
                sb.len().saturating_sub(1)
            )),
            Target::Port(p) => (0..sb.len())
                .find(|&i| sb.port(i) == p)
                .ok_or_else(|| format!("fault host 127.0.0.1:{p}: no sandbox server on that port")),
        }
    }
}

/// One action as it happened.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Event {
    /// `kill`, `pause`, `resume` or `restart`.
    pub(crate) action: &'static str,
    pub(crate) server: usize,
    pub(crate) host: String,
    pub(crate) planned_ms: u64,
    /// When it started, since the bench started.
    pub(crate) at_ms: u64,
    /// When it was done (a restart: when the server was ready again).
    pub(crate) done_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
}

#[derive(Clone, Copy)]
enum Action {
    Kill,
    Pause,
    Resume,
    Restart,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Kill => "kill",
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Restart => "restart",
        }
    }
}

/// Runs `faults` (already resolved to server indexes) from `start` on, until all are done,
/// appending what happened to `events` as it happens (so a cancelled schedule keeps its
/// record). A pause that would outlast the run ends with it; [`resume_all`] after the
/// workload makes sure.
pub(crate) async fn run(
    sb: Arc<Sandbox>,
    faults: Vec<(Fault, usize)>,
    start: Instant,
    end: Duration,
    events: Arc<Mutex<Vec<Event>>>,
) {
    let mut plan: Vec<(Duration, Action, usize)> = Vec::new();
    for (f, i) in faults {
        match f.kind {
            Kind::Kill => plan.push((f.at, Action::Kill, i)),
            Kind::Restart => plan.push((f.at, Action::Restart, i)),
            Kind::Pause { until } => {
                plan.push((f.at, Action::Pause, i));
                plan.push((until.min(end), Action::Resume, i));
            }
        }
    }
    plan.sort_by_key(|(at, _, _)| *at);
    for (planned, action, i) in plan {
        tokio::time::sleep_until(start + planned).await;
        let at = start.elapsed();
        let error = match action {
            Action::Kill => {
                sb.kill(i);
                None
            }
            Action::Resume => {
                sb.resume(i);
                None
            }
            Action::Pause => {
                // Waits (at most a second) until every server thread is stopped.
                let sb = sb.clone();
                tokio::task::spawn_blocking(move || sb.pause(i))
                    .await
                    .err()
                    .map(|e| e.to_string())
            }
            Action::Restart => sb.restart(i).await.err().map(|e| e.to_string()),
        };
        let event = Event {
            action: action.name(),
            server: i,
            host: format!("127.0.0.1:{}", sb.port(i)),
            planned_ms: planned.as_millis() as u64,
            at_ms: at.as_millis() as u64,
            done_ms: start.elapsed().as_millis() as u64,
            error,
        };
        events.lock().unwrap_or_else(|p| p.into_inner()).push(event);
    }
}

/// Sends SIGCONT to every server, so nothing is left stopped after a run (harmless for a
/// server that is running or dead).
pub(crate) fn resume_all(sb: &Sandbox) {
    for i in 0..sb.len() {
        sb.resume(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_kind() {
        assert_eq!(
            parse("kill:1@3s").unwrap(),
            Fault {
                kind: Kind::Kill,
                target: Target::Index(1),
                at: Duration::from_secs(3)
            }
        );
        assert_eq!(
            parse("pause:127.0.0.1:4000@3s-9s").unwrap(),
            Fault {
                kind: Kind::Pause {
                    until: Duration::from_secs(9)
                },
                target: Target::Port(4000),
                at: Duration::from_secs(3)
            }
        );
        assert_eq!(parse("restart:0@500ms").unwrap().kind, Kind::Restart);
    }

    #[test]
    fn errors_name_the_bad_part() {
        assert!(parse("explode:1@3s").unwrap_err().contains("explode"));
        assert!(parse("kill:db1@3s").unwrap_err().contains("db1"));
        assert!(parse("kill:1@3").unwrap_err().contains("`3`"));
        assert!(parse("kill:1").unwrap_err().contains("HOST@TIME"));
        assert!(parse("pause:1@3s").unwrap_err().contains("FROM-TO"));
        assert!(parse("pause:1@9s-3s").unwrap_err().contains("end after"));
    }
}
