//! `mysql-lb query URL SQL`: one statement through a `LoadBalancedConnection`, the result
//! as a table and the host that served it.

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_lb::LoadBalancedConnection;

use crate::table::{Table, cell};
use crate::{Outcome, failure, input};

/// Arguments of `query`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The connection string, e.g. mysql://app:secret@db1:3306,db2:3306/shop
    url: String,
    /// One SQL statement.
    sql: String,
}

pub(crate) fn run(args: Args) -> Outcome {
    let (opts, rt) = match input::opts_and_runtime(&args.url) {
        Ok(x) => x,
        Err(out) => return out,
    };
    rt.block_on(async {
        let mut conn = match LoadBalancedConnection::connect(opts).await {
            Ok(c) => c,
            Err(e) => return failure::connect_outcome(&e),
        };
        let outcome = match execute(&mut conn, &args.sql).await {
            Ok(text) => {
                print!("{text}");
                Outcome::Ok
            }
            Err(e) => failure::outcome(&e),
        };
        conn.disconnect().await;
        outcome
    })
}

/// Runs `sql` and formats its result: a table and a `-- served by` line, or the affected
/// rows. Shared with `shell`.
///
/// Statements that read go through `query`, which the handle retries once on another host
/// when the host fails; `query_iter` (needed for affected rows) streams its result from one
/// connection and is not retried, which is right for writes and wrong for reads.
pub(crate) async fn execute(
    conn: &mut LoadBalancedConnection,
    sql: &str,
) -> Result<String, mysql_async::Error> {
    let started = Instant::now();
    let (columns, rows, affected) = if returns_rows(sql) {
        let rows: Vec<mysql_async::Row> = conn.query(sql).await?;
        let columns = rows.first().map(|r| r.columns());
        (columns, rows, 0)
    } else {
        let mut result = conn.query_iter(sql).await?;
        let columns = result.columns();
        let rows: Vec<mysql_async::Row> = result.collect().await?;
        let affected = result.affected_rows();
        // Any further result sets (a CALL) are read and dropped so the connection stays usable.
        result.drop_result().await?;
        (columns, rows, affected)
    };
    let took = started.elapsed();
    let host = conn
        .current_host()
        .map_or_else(|| "?".to_owned(), ToString::to_string);
    let mut out = String::new();
    match columns.filter(|c| !c.is_empty()) {
        Some(cols) => {
            let mut table = Table::new(cols.iter().map(|c| c.name_str().into_owned()));
            for row in rows {
                let values = row.unwrap();
                table.row(values.iter().map(cell));
            }
            let n = table.len();
            out += &table.render();
            out += &served(&host, &format!("{n} {}", plural(n, "row")), took);
        }
        None if returns_rows(sql) => out += &served(&host, "empty set", took),
        None => {
            let what = format!("{affected} {}", plural(affected as usize, "row affected"));
            out += &served(&host, &what, took);
        }
    }
    Ok(out)
}

/// Whether `sql` starts like a statement that returns rows (the handle itself decides
/// whether it is safe to retry).
fn returns_rows(sql: &str) -> bool {
    let head: String = sql
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_uppercase();
    matches!(
        head.as_str(),
        "SELECT" | "SHOW" | "DESCRIBE" | "DESC" | "EXPLAIN" | "WITH" | "VALUES" | "TABLE"
    )
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        what.to_owned()
    } else if let Some(rest) = what.strip_prefix("row") {
        format!("rows{rest}")
    } else {
        format!("{what}s")
    }
}

fn served(host: &str, what: &str, took: Duration) -> String {
    format!("-- served by {host}, {what}, {:.1} ms\n", input::ms(took))
}
