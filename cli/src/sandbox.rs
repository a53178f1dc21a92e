//! `mysql-lb sandbox --servers N [--galera]`: real `mariadbd` servers driven over stdin, for
//! scripts.
//!
//! Benchmarks that compare clients (see `scripts/compare.sh`) need the same servers and the
//! same faults for every client, including clients that are not Rust. This command owns the
//! servers ([`mysql_lb_sandbox::Sandbox`]) and takes faults as text commands, so a shell
//! script can run it as a coprocess.
//!
//! Protocol. On start it prints ONE JSON line on stdout:
//! `{"url": "...", "hosts": [{"host": "127.0.0.1", "port": P, "pid": N}, ...], "user": "lb",
//! "password": "lb-secret"}`. The password is printed on purpose: it is the sandbox's fixed,
//! public test password ([`mysql_lb_sandbox::PASSWORD`]) of throwaway servers bound to
//! 127.0.0.1, and the script needs it to build other clients' URLs. Then it reads one command
//! a line and answers each with one line, `ok ...` or `error ...`:
//! - `kill I`: SIGKILL server I; `pause I`: SIGSTOP it (answers once it is stopped);
//!   `resume I`: SIGCONT it. Answer: `ok kill I` and so on.
//! - `restart I`: kill it and start it again on the same port. Answer: `ok restart I` and the
//!   server's new `{"host", "port", "pid"}`.
//! - `sql I STATEMENT`: run STATEMENT on server I. Answer: `ok` and the rows as a JSON array
//!   of arrays.
//! - `quit`. Answer: `ok quit`.
//!
//! - With `--galera` the servers are one Galera cluster
//!   ([`mysql_lb_sandbox::Sandbox::start_galera`]) and the JSON line's `url` is its
//!   `mysql:galera://` URL (as the non-SUPER `app` account; `user` and `password` stay the
//!   admin account's). Three more commands: `isolate I` (cut it off the cluster; answers once
//!   it is non-Primary), `rejoin I` (answers once it is Synced again) and `desync I on|off`.
//!   `restart I` rejoins the cluster, or bootstraps a new one when no node runs.
//!
//! A malformed command or a failed one gets `error` and the reason; the servers keep running.
//!
//! On `quit`, end of input, SIGINT or SIGTERM every server is killed and the exit code is 0.
//! With `--haproxy-check-user NAME` every server also gets the user `NAME@127.0.0.1` with no
//! password and no privileges: what HAProxy's `option mysql-check` logs in as.

use mysql_async::Value;
use mysql_lb_sandbox::{PASSWORD, Sandbox, USER};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::signal::unix::{SignalKind, signal};

use crate::{Outcome, input};

/// The most servers one sandbox may have (each takes a few hundred MB of address space).
const MAX_SERVERS: usize = 9;

/// Arguments of `sandbox`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// How many servers to start (1 to 9).
    #[arg(long, default_value_t = 3)]
    servers: usize,

    /// Create this passwordless user without privileges at 127.0.0.1 on every server, for
    /// HAProxy's `option mysql-check user NAME`.
    #[arg(long, value_name = "NAME")]
    haproxy_check_user: Option<String>,

    /// Start the servers as one Galera cluster (node 0 bootstraps it); the URL printed is
    /// then a `mysql:galera://` URL.
    #[arg(long)]
    galera: bool,
}

pub(crate) fn run(args: Args) -> Outcome {
    if args.servers == 0 || args.servers > MAX_SERVERS {
        return Outcome::BadInput(format!(
            "--servers {} is out of range: give 1 to {MAX_SERVERS}",
            args.servers
        ));
    }
    if let Some(name) = &args.haproxy_check_user
        && !is_plain_name(name)
    {
        return Outcome::BadInput(format!(
            "--haproxy-check-user `{name}`: use 1 to 32 letters, digits or `_`"
        ));
    }
    let runtime = match input::runtime() {
        Ok(rt) => rt,
        Err(out) => return out,
    };
    let outcome = runtime.block_on(serve(args));
    // The stdin read runs on a blocking thread that cannot be cancelled; waiting for it
    // would keep a SIGTERMed sandbox alive until its next input line.
    runtime.shutdown_background();
    outcome
}

/// Starts the sandbox, prints its JSON line and serves commands until told to stop.
async fn serve(args: Args) -> Outcome {
    // Installed before the servers start, so a signal during start-up is not fatal before the
    // sandbox can be dropped.
    let (mut sigint, mut sigterm) = match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(i), Ok(t)) => (i, t),
        (Err(e), _) | (_, Err(e)) => {
            return Outcome::Failed(format!("installing signal handlers: {e}"));
        }
    };
    let started = if args.galera {
        Sandbox::start_galera(args.servers).await
    } else {
        Sandbox::start(args.servers).await
    };
    let sandbox = match started {
        Ok(sb) => sb,
        Err(e) => return Outcome::Failed(format!("starting the sandbox: {e}")),
    };
    if let Some(name) = &args.haproxy_check_user {
        let sql = format!("CREATE USER IF NOT EXISTS '{name}'@'127.0.0.1'");
        for i in 0..sandbox.len() {
            if let Err(e) = sandbox.exec(i, &sql).await {
                return Outcome::Failed(format!("creating the HAProxy check user: {e}"));
            }
        }
    }
    println!("{}", describe(&sandbox, args.galera));

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        let line = tokio::select! {
            line = lines.next_line() => line,
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
        };
        let line = match line {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(e) => {
                eprintln!("mysql-lb: reading stdin: {e}; stopping the sandbox");
                break;
            }
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line == "quit" {
            println!("ok quit");
            break;
        }
        match execute(&sandbox, args.galera, line).await {
            Ok(answer) => println!("ok {answer}"),
            Err(e) => println!("error {e}"),
        }
    }
    // Dropping the sandbox SIGKILLs every server, paused ones too.
    drop(sandbox);
    Outcome::Ok
}

/// The start-up JSON line.
fn describe(sb: &Sandbox, galera: bool) -> serde_json::Value {
    let hosts: Vec<_> = (0..sb.len()).map(|i| host_json(sb, i)).collect();
    let url = if galera { sb.galera_url() } else { sb.url() };
    json!({"url": url, "hosts": hosts, "user": USER, "password": PASSWORD})
}

fn host_json(sb: &Sandbox, i: usize) -> serde_json::Value {
    json!({"host": "127.0.0.1", "port": sb.port(i), "pid": sb.pid(i)})
}

/// What the protocol accepts, for error answers.
const USAGE: &str = "commands: kill|pause|resume|restart I, sql I STATEMENT, quit";
/// What it accepts with `--galera`.
const GALERA_USAGE: &str = "commands: kill|pause|resume|restart|isolate|rejoin I, \
     desync I on|off, sql I STATEMENT, quit";

/// Runs one command line; the answer follows `ok ` or `error `.
async fn execute(sb: &Sandbox, galera: bool, line: &str) -> Result<String, String> {
    let usage = if galera { GALERA_USAGE } else { USAGE };
    let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
    let (index, statement) = rest.trim_start().split_once(' ').unwrap_or((rest, ""));
    let statement = statement.trim();
    let wants_statement = match verb {
        "kill" | "pause" | "resume" | "restart" => false,
        "isolate" | "rejoin" if galera => false,
        "sql" => true,
        "desync" if galera => true,
        _ => return Err(format!("unknown command `{verb}`; {usage}")),
    };
    if wants_statement == statement.is_empty() {
        return Err(format!("malformed `{line}`; {usage}"));
    }
    let i = server_index(sb, index.trim()).map_err(|e| format!("{e} in `{line}`"))?;
    match verb {
        "kill" => sb.kill(i),
        "pause" => sb.pause(i),
        "resume" => sb.resume(i),
        "restart" => {
            sb.restart(i)
                .await
                .map_err(|e| format!("restart {i}: {e}"))?;
            return Ok(format!("restart {i} {}", host_json(sb, i)));
        }
        "isolate" => sb
            .isolate(i)
            .await
            .map_err(|e| format!("isolate {i}: {e}"))?,
        "rejoin" => sb.rejoin(i).await.map_err(|e| format!("rejoin {i}: {e}"))?,
        "desync" => {
            let on = match statement {
                "on" => true,
                "off" => false,
                _ => return Err(format!("malformed `{line}`: desync I on|off")),
            };
            sb.desync(i, on)
                .await
                .map_err(|e| format!("desync {i}: {e}"))?;
            return Ok(format!("desync {i} {statement}"));
        }
        _ => {
            let rows = sb
                .sql(i, statement)
                .await
                .map_err(|e| format!("sql {i}: {e}"))?;
            let rows: Vec<Vec<serde_json::Value>> = rows
                .into_iter()
                .map(|row| row.unwrap().into_iter().map(value_json).collect())
                .collect();
            return Ok(serde_json::Value::from(rows).to_string());
        }
    }
    Ok(format!("{verb} {i}"))
}

/// Parses a server index and checks it is in range (the sandbox panics on one that is not).
fn server_index(sb: &Sandbox, text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(i) if i < sb.len() => Ok(i),
        _ => Err(format!(
            "bad server index `{text}` (0 to {})",
            sb.len().saturating_sub(1)
        )),
    }
}

/// A column value as JSON: numbers stay numbers, text and dates become strings.
fn value_json(value: Value) -> serde_json::Value {
    match value {
        Value::NULL => serde_json::Value::Null,
        Value::Int(n) => n.into(),
        Value::UInt(n) => n.into(),
        Value::Float(x) => f64::from(x).into(),
        Value::Double(x) => x.into(),
        Value::Bytes(bytes) => String::from_utf8_lossy(&bytes).into_owned().into(),
        other => other.as_sql(true).trim_matches('\'').to_owned().into(),
    }
}

/// Whether `name` can go into `CREATE USER '...'` as is.
fn is_plain_name(name: &str) -> bool {
    (1..=32).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}
