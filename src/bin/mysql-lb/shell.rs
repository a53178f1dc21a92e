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
//! statements in; no line editing.

use std::io::Write;

use mysql_async::prelude::Queryable;
use mysql_lb::{Blacklist, Error, HostAddr, LoadBalancedConnection};
use tokio::io::AsyncBufReadExt;

use crate::{Outcome, failure, input, query};

/// Arguments of `shell`.
#[derive(clap::Args)]
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
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        prompt(&conn, &db);
        let line = match lines.next_line().await {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(e) => {
                conn.disconnect().await;
                return Outcome::Failed(format!("reading stdin: {e}"));
            }
        };
        let stmt = line.trim().trim_end_matches(';').trim();
        if stmt.is_empty() {
            continue;
        }
        if stmt.eq_ignore_ascii_case("quit") || stmt.eq_ignore_ascii_case("exit") {
            break;
        }
        let before = conn.current_host().cloned();
        let result = query::execute(&mut conn, stmt).await;
        match result {
            Ok(text) => {
                moved_notice(before.as_ref(), &conn);
                print!("{text}");
                if is_use(stmt) {
                    db = current_db(&mut conn).await;
                }
            }
            Err(e) => match Error::from_mysql(&e) {
                Some(Error::TransactionLost { host, cause }) => println!(
                    "-- transaction lost: host {host} failed inside a transaction ({cause}); \
                     nothing was replayed, run the transaction again"
                ),
                _ => {
                    moved_notice(before.as_ref(), &conn);
                    let kind = if failure::is_connection_error(&e) {
                        "connection"
                    } else {
                        "statement"
                    };
                    println!("ERROR ({kind}): {e}");
                }
            },
        }
    }
    conn.disconnect().await;
    Outcome::Ok
}

fn prompt(conn: &LoadBalancedConnection, db: &Option<String>) {
    let host = conn
        .current_host()
        .map_or_else(|| "?".to_owned(), ToString::to_string);
    print!("mysql-lb [{host}/{}]> ", db.as_deref().unwrap_or(""));
    let _ = std::io::stdout().flush();
}

/// One line when the handle left a host because it failed (not when it merely rebalanced).
fn moved_notice(before: Option<&HostAddr>, conn: &LoadBalancedConnection) {
    let (Some(old), Some(new)) = (before, conn.current_host()) else {
        return;
    };
    if old == new {
        return;
    }
    let entry = Blacklist::global()
        .snapshot()
        .into_iter()
        .find(|e| &e.addr == old);
    let reason = match entry {
        Some(e) => e.reason,
        // Without a blacklist there is no record of why; a move is still worth a line.
        None if conn.opts().blacklist_timeout().is_zero() => "connection lost".to_owned(),
        None => return,
    };
    println!("-- host {old} is gone ({reason}); now on {new}");
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
