//! `mysql-lb`: the command-line face of `mysql_lb`.
//!
//! Exit codes: 0 success, 1 failure (a server or the network), 2 bad input (URL, SQL, flags).

mod parse;
mod sandbox;

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
    /// Start real MariaDB servers on 127.0.0.1 and take faults (kill, pause, ...) on stdin.
    Sandbox(sandbox::Args),
}

/// How a subcommand ended.
pub(crate) enum Outcome {
    Ok,
    /// Bad input: message for stderr, exit 2.
    BadInput(String),
    /// Failure (a server or the network): message for stderr, exit 1.
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
        Command::Sandbox(args) => sandbox::run(args),
    };
    match outcome {
        Outcome::Ok => ExitCode::SUCCESS,
        Outcome::BadInput(msg) => {
            eprintln!("mysql-lb: {msg}");
            ExitCode::from(2)
        }
        Outcome::Failed(msg) => {
            eprintln!("mysql-lb: {msg}");
            ExitCode::FAILURE
        }
    }
}
