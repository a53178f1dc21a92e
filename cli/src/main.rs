//! `mysql-lb`: the command-line face of `mysql_lb`.
//!
//! Exit codes: 0 success, 1 failure (a server or the network), 2 bad input (URL, SQL, flags).
//!
//! One file per subcommand; the bench machinery (drivers, faults, recording, reports, charts)
//! sits in its own files because `bench` and `demo` share it.

mod autoreconnect;
mod bench;
mod demo;
mod driver;
mod failure;
mod faults;
mod input;
mod marks;
mod parse;
mod plot;
mod query;
mod recorder;
mod report;
mod sandbox;
mod shell;
mod soak;
mod status;
mod table;
mod watch;
mod workload;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Talk to several MySQL/MariaDB servers through one load-balanced handle.
#[derive(Parser)]
#[command(name = "mysql-lb", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print what a connection string means, as JSON (password redacted).
    Parse(parse::Args),
    /// Run one statement through a load-balanced connection and print the result.
    Query(query::Args),
    /// Interactive prompt: statements one per line, through a load-balanced connection.
    Shell(shell::Args),
    /// Check every host of a connection string: reachable, round trip, version, lag; with
    /// --watch, print events (blacklisted, back, failover, roles, lag) as they happen.
    Status(status::Args),
    /// Run a statement from many tasks for a while; report throughput and latency.
    Bench(bench::Args),
    /// Kill, restart and pause servers of a sandbox under load, with mysql_lb and with an
    /// emulation of Connector/J's autoReconnect; print a table and write a chart.
    Demo(demo::Args),
    /// Start real MariaDB servers on 127.0.0.1 and take faults (kill, pause, ...) on stdin.
    Sandbox(sandbox::Args),
    /// Counted writes under random faults on sandbox servers, each answer (Ok, not applied,
    /// unknown) checked against the rows present; exit 1 on any mismatch.
    Soak(soak::Args),
}

/// How a subcommand ended.
pub(crate) enum Outcome {
    Ok,
    /// Bad input: message for stderr, exit 2.
    BadInput(String),
    /// A server or the network failed: message for stderr, exit 1.
    Failed(String),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let outcome = match cli.command {
        Command::Parse(args) => parse::run(args),
        Command::Query(args) => query::run(args),
        Command::Shell(args) => shell::run(args),
        Command::Status(args) => status::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Sandbox(args) => sandbox::run(args),
        Command::Soak(args) => soak::run(args),
    };
    match outcome {
        Outcome::Ok => ExitCode::SUCCESS,
        Outcome::BadInput(msg) => {
            eprintln!("mysql-lb: {msg}");
            ExitCode::from(2)
        }
        Outcome::Failed(msg) => {
            eprintln!("mysql-lb: {msg}");
            ExitCode::from(1)
        }
    }
}
