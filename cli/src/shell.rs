//! `mysql-lb shell URL`: a prompt that reads statements, one per line, and runs them
//! through one `LoadBalancedConnection`.
//!
//! The point is to watch failover from the user's seat. When the current host dies, the
//! `mariadb` client prints "No connection. Trying to reconnect..." and reconnects to the same
//! server; here the handle has already moved to another host, with the current database,
//! and the shell says so in one line before the statement's result. Inside a transaction
//! nothing is replayed: the shell reports the lost transaction instead.
//!
//! Input is read line by line from stdin, terminal or not, so tests and scripts can pipe
//! statements in; no line editing. A statement that fails does not end the shell (like
//! `mysql --force`); with piped input the exit code says whether all went well: 0 if every
//! statement succeeded, 1 if any failed because a host failed (or none was reachable), else 2
//! if any was refused by the server or a line was not UTF-8 (it is skipped and named).

use std::io::{IsTerminal, Write};

use mysql_async::prelude::Queryable;
use mysql_lb::{Error, HostAddr, LoadBalancedConnection};
use tokio::io::AsyncBufReadExt;

use crate::{Outcome, failure, input, query};

/// Arguments of `shell`.
#[derive(clap::Args)]
#[command(after_help = "\
Statements are read one per line (`;` optional; `quit`, `exit` or end of input ends). \
A failed statement does not end the shell; it goes on with the next line. \
With input that is not a terminal (a pipe or a file), the exit code reflects the statements: \
0 if all succeeded, 1 if any failed because a host failed or none was reachable, \
else 2 if any was refused by the server or a line was not valid UTF-8 (it is skipped, \
and its line number printed).")]
pub(crate) struct Args {
    /// The connection string, e.g. mysql://app:secret@db1:3306,db2:3306/shop
    url: String,
}

pub(crate) fn run(args: Args) -> Outcome {
    let (opts, rt) = match input::opts_and_runtime(&args.url) {
        Ok(x) => x,
        Err(out) => return out,
    };
    rt.block_on(async {
        let conn = match LoadBalancedConnection::connect(opts).await {
            Ok(c) => c,
            Err(e) => return failure::connect_outcome(&e),
        };
        repl(conn).await
    })
}

async fn repl(mut conn: LoadBalancedConnection) -> Outcome {
    let mut db = current_db(&mut conn).await;
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
    let interactive = std::io::stdin().is_terminal();
    let mut tally = Tally::default();
    let mut watch = HostWatch::new(&conn);
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    loop {
        prompt(&conn, &db);
        buf.clear();
        match stdin.read_until(b'\n', &mut buf).await {
            Ok(0) => break,
            Ok(_) => line_no += 1,
            Err(e) => {
                conn.disconnect().await;
                return Outcome::Failed(format!("reading stdin: {e}"));
            }
        }
        while buf.last().is_some_and(|b| matches!(b, b'\n' | b'\r')) {
            buf.pop();
        }
        let Ok(line) = std::str::from_utf8(&buf) else {
            if !interactive {
                println!("{}", String::from_utf8_lossy(&buf));
            }
            println!("ERROR (input): line {line_no} is not valid UTF-8; skipped");
            tally.unreadable += 1;
            continue;
        };
        if !interactive {
            // Echo piped input after the prompt, so the transcript reads like a session.
            println!("{line}");
        }
        let stmt = line.trim().trim_end_matches(';').trim();
        if stmt.is_empty() {
            continue;
        }
        if stmt.eq_ignore_ascii_case("quit") || stmt.eq_ignore_ascii_case("exit") {
            break;
        }
        tally.statements += 1;
        watch.before(&conn);
        let result = query::execute(&mut conn, stmt).await;
        watch.after(&conn, stmt, result.as_ref().err());
        match result {
            Ok(text) => {
                print!("{text}");
                if is_use(stmt) {
                    db = current_db(&mut conn).await;
                }
            }
            Err(e) => {
                if failure::is_connection_error(&e) {
                    tally.host_failures += 1;
                } else {
                    tally.refused += 1;
                }
                report(&e);
            }
        }
    }
    conn.disconnect().await;
    if interactive {
        Outcome::Ok
    } else {
        tally.outcome()
    }
}

/// How the statements of a session went. With piped input the worst one sets the exit code:
/// 1 if any failed because a host failed, else 2 if any was refused or a line was unreadable.
#[derive(Default)]
struct Tally {
    /// Statements run.
    statements: usize,
    /// Refused by a server (syntax, unknown table, a constraint, …).
    refused: usize,
    /// Lines that were not UTF-8, skipped.
    unreadable: usize,
    /// Failed because a host failed, or none was reachable.
    host_failures: usize,
}

impl Tally {
    fn outcome(&self) -> Outcome {
        let failed = self.refused + self.unreadable + self.host_failures;
        let total = self.statements + self.unreadable;
        let summary = format!("{failed} of {total} statements failed");
        if self.host_failures > 0 {
            Outcome::Failed(format!(
                "{summary} ({} because a host failed)",
                self.host_failures
            ))
        } else if failed > 0 {
            let mut why = Vec::new();
            if self.refused > 0 {
                why.push(format!("{} refused by the server", self.refused));
            }
            if self.unreadable > 0 {
                let lines = if self.unreadable == 1 {
                    "line"
                } else {
                    "lines"
                };
                why.push(format!("{} {lines} not valid UTF-8", self.unreadable));
            }
            Outcome::BadInput(format!("{summary} ({})", why.join(", ")))
        } else {
            Outcome::Ok
        }
    }
}

/// Prints a failed statement: one line for this crate's errors about lost state, else
/// `ERROR (kind): …`.
fn report(e: &mysql_async::Error) {
    match Error::from_mysql(e) {
        Some(Error::TransactionLost { host, cause }) => {
            println!("-- transaction lost on {host}: {cause} (nothing of it was committed)");
        }
        Some(Error::CommitUnknown { host, cause }) => println!(
            "-- commit outcome unknown on {host}: {cause} (it may or may not have committed; \
             check the data before running it again)"
        ),
        Some(Error::SessionLost { host, what, cause }) => {
            println!("-- session state lost on {host}: {what} is gone ({cause})");
        }
        _ => {
            let kind = if failure::is_connection_error(e) {
                "connection"
            } else {
                "statement"
            };
            println!("ERROR ({kind}): {e}");
        }
    }
}

/// Notices when the host serving the handle changes between statements for any reason but a
/// rebalance the user asked for (`COMMIT`/`ROLLBACK`, or `autocommit_threshold`).
struct HostWatch {
    /// The host that served the last statement that had one.
    last: Option<HostAddr>,
    /// Why that host failed, from a statement's error, until the handle is seen elsewhere.
    failure: Option<String>,
    /// A `COMMIT`/`ROLLBACK` asked for a rebalance that has not happened yet.
    rebalance_asked: bool,
    /// Whether the statement under way may move the handle as a rebalance.
    may_rebalance: bool,
}

impl HostWatch {
    fn new(conn: &LoadBalancedConnection) -> HostWatch {
        HostWatch {
            last: conn.current_host().cloned(),
            failure: None,
            rebalance_asked: false,
            may_rebalance: false,
        }
    }

    /// Before a statement: a rebalance can happen in it only outside a transaction and with
    /// nothing pinning the session (the handle's own rule).
    fn before(&mut self, conn: &LoadBalancedConnection) {
        let free = !conn.in_transaction() && conn.pinned_by().is_none();
        let by_threshold = conn.opts().autocommit_threshold() > 0;
        self.may_rebalance = free && (self.rebalance_asked || by_threshold);
        if free {
            self.rebalance_asked = false;
        }
    }

    /// After a statement: `-- host A is gone (reason); now on B` if the handle moved. The
    /// reason is the error that made it move (this statement's or an earlier one's), else
    /// the blacklist's record, else "connection lost" (a dead connection replaced quietly).
    fn after(
        &mut self,
        conn: &LoadBalancedConnection,
        stmt: &str,
        err: Option<&mysql_async::Error>,
    ) {
        let error_reason = err
            .filter(|e| failure::is_connection_error(e))
            .map(reason_of);
        let now = conn.current_host().cloned();
        if let (Some(old), Some(new)) = (&self.last, &now)
            && old != new
        {
            let reason = error_reason
                .or_else(|| self.failure.take())
                .or_else(|| {
                    conn.blacklist()
                        .snapshot()
                        .into_iter()
                        .find(|e| &e.addr == old)
                        .map(|e| e.reason)
                })
                .or_else(|| (!self.may_rebalance).then(|| "connection lost".to_owned()));
            if let Some(reason) = reason {
                println!("-- host {old} is gone ({reason}); now on {new}");
            }
            self.failure = None;
        } else if error_reason.is_some() {
            // The handle is leaving the host: say why when it is seen elsewhere.
            self.failure = error_reason;
        } else if err.is_none() && now.is_some() {
            // Served where it was: the host is not gone after all.
            self.failure = None;
        }
        if now.is_some() {
            self.last = now;
        }
        if err.is_none() && is_tx_end(stmt) {
            self.rebalance_asked = true;
        }
    }
}

/// The short reason of a connection failure: the driver's error under ours.
fn reason_of(e: &mysql_async::Error) -> String {
    match Error::from_mysql(e) {
        Some(
            Error::TransactionLost { cause, .. }
            | Error::CommitUnknown { cause, .. }
            | Error::SessionLost { cause, .. }
            | Error::WriteNotRetried { cause, .. },
        ) => cause.to_string(),
        Some(other) => other.to_string(),
        None => e.to_string(),
    }
}

/// `COMMIT` or `ROLLBACK` (not `ROLLBACK TO SAVEPOINT`): the handle rebalances after them.
fn is_tx_end(stmt: &str) -> bool {
    let mut words = stmt.split_whitespace().map(str::to_ascii_uppercase);
    match words.next().as_deref() {
        Some("COMMIT") => true,
        Some("ROLLBACK") => words.next().is_none_or(|w| w != "TO"),
        _ => false,
    }
}

fn prompt(conn: &LoadBalancedConnection, db: &Option<String>) {
    let host = conn
        .current_host()
        .map_or_else(|| "?".to_owned(), ToString::to_string);
    print!("mysql-lb [{host}/{}]> ", db.as_deref().unwrap_or(""));
    let _ = std::io::stdout().flush();
}

fn is_use(stmt: &str) -> bool {
    stmt.get(..4)
        .is_some_and(|head| head.eq_ignore_ascii_case("use ") || head.eq_ignore_ascii_case("use\t"))
}

async fn current_db(conn: &mut LoadBalancedConnection) -> Option<String> {
    conn.query_first::<Option<String>, _>("SELECT DATABASE()")
        .await
        .ok()
        .flatten()
        .flatten()
}
