//! `mysql-lb`: the command-line face of `mysql_lb`.
//!
//! Exit codes: 0 success, 1 failure (a server or the network), 2 bad input (URL, SQL, flags).

mod parse;

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
}

/// How a subcommand ended.
pub(crate) enum Outcome {
    Ok,
    /// Bad input: message for stderr, exit 2.
    BadInput(String),
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
    };
    match outcome {
        Outcome::Ok => ExitCode::SUCCESS,
        Outcome::BadInput(msg) => {
            eprintln!("mysql-lb: {msg}");
            ExitCode::from(2)
        }
    }
}
