//! Read-your-writes over asynchronous replicas (`causal_reads=true`).
//!
//! After a write through the pool, the source's position of that write is remembered: on
//! MariaDB the session's `@@last_gtid` (one `domain-server-sequence` GTID), on MySQL the
//! source's `@@global.gtid_executed` set. A later read checked out of the pool first makes its
//! replica wait until it has applied that position (`MASTER_GTID_WAIT` on MariaDB,
//! `WAIT_FOR_EXECUTED_GTID_SET` on MySQL), for at most `causal_read_timeout`; if the replica
//! does not get there in time the read goes to a source instead. ProxySQL offers the same
//! for MySQL through its binlog reader; no driver-side balancer we know of does.
//!
//! The wait happens once per checkout: reads in a checkout see every write made through the
//! pool before the checkout, not writes made during it. Positions are kept per GTID domain
//! (the highest sequence number of each), so writes through several sources in different
//! domains are all waited for.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use tokio::time::timeout;

/// The servers' dialect of GTIDs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flavor {
    MariaDb,
    MySql,
}

/// The position a causal read waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Position {
    /// MariaDB: highest `(server, sequence)` per domain.
    MariaDb(BTreeMap<u32, (u32, u64)>),
    /// MySQL: a GTID set as the server prints it.
    MySql(String),
}

impl Position {
    /// The text the wait function takes.
    pub(crate) fn text(&self) -> String {
        match self {
            Position::MariaDb(m) => m
                .iter()
                .map(|(d, (s, n))| format!("{d}-{s}-{n}"))
                .collect::<Vec<_>>()
                .join(","),
            Position::MySql(set) => set.clone(),
        }
    }
}

/// The pool's last write position.
#[derive(Debug)]
pub(crate) struct Causal {
    pos: Mutex<Option<Position>>,
    wait: Duration,
}

impl Causal {
    pub(crate) fn new(wait: Duration) -> Causal {
        Causal {
            pos: Mutex::new(None),
            wait,
        }
    }

    /// How long a read waits.
    pub(crate) fn wait_bound(&self) -> Duration {
        self.wait
    }

    /// The position to wait for, if anything was written.
    pub(crate) fn position(&self) -> Option<Position> {
        self.pos.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Reads the position of the write just made on `conn` and merges it in. A failure
    /// leaves the position as it was (later reads may then be stale; the write itself
    /// succeeded, so it is not reported).
    pub(crate) async fn capture(&self, conn: &mut Conn, bound: Duration) {
        let read = async {
            match flavor(conn) {
                Flavor::MariaDb => {
                    let g: Option<String> = conn.query_first("SELECT @@last_gtid").await?;
                    Ok::<_, mysql_async::Error>(g.and_then(|g| parse_mariadb(&g)))
                }
                Flavor::MySql => {
                    let g: Option<String> =
                        conn.query_first("SELECT @@global.gtid_executed").await?;
                    Ok(g.filter(|g| !g.is_empty()).map(Position::MySql))
                }
            }
        };
        match timeout(bound, read).await {
            Ok(Ok(Some(p))) => self.merge(p),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "could not read the write's GTID"),
            Err(_) => tracing::warn!("reading the write's GTID timed out"),
        }
    }

    fn merge(&self, p: Position) {
        let mut g = self.pos.lock().unwrap_or_else(|e| e.into_inner());
        *g = Some(match (g.take(), p) {
            (Some(Position::MariaDb(mut have)), Position::MariaDb(new)) => {
                for (d, (s, n)) in new {
                    let e = have.entry(d).or_insert((s, n));
                    if n > e.1 {
                        *e = (s, n);
                    }
                }
                Position::MariaDb(have)
            }
            (_, p) => p,
        });
    }
}

/// Makes `conn` (a replica) wait until it has applied `pos`, for at most `wait`. `Ok(true)`:
/// it has; `Ok(false)`: it has not in time.
pub(crate) async fn wait_for(
    conn: &mut Conn,
    pos: &Position,
    wait: Duration,
) -> mysql_async::Result<bool> {
    let secs = format!("{:.3}", wait.as_secs_f64());
    let text = pos.text().replace('\'', "");
    let (sql, reached) = match (pos, flavor(conn)) {
        (Position::MariaDb(_), Flavor::MariaDb) => {
            (format!("SELECT MASTER_GTID_WAIT('{text}', {secs})"), 0)
        }
        (Position::MySql(_), Flavor::MySql) => (
            format!("SELECT WAIT_FOR_EXECUTED_GTID_SET('{text}', {secs})"),
            0,
        ),
        _ => return Ok(false), // a mixed set-up: cannot tell, so use the source
    };
    let r: Option<i64> = conn.query_first(sql).await?;
    Ok(r == Some(reached))
}

/// MariaDB numbers its versions from 10; MySQL has not got there.
fn flavor(conn: &Conn) -> Flavor {
    if conn.server_version().0 >= 10 {
        Flavor::MariaDb
    } else {
        Flavor::MySql
    }
}

/// `0-1-42` or `0-1-42,1-2-7` into a position; `None` for an empty or odd value.
fn parse_mariadb(s: &str) -> Option<Position> {
    let mut map = BTreeMap::new();
    for g in s.split(',').map(str::trim).filter(|g| !g.is_empty()) {
        let mut it = g.split('-');
        let d = it.next()?.parse().ok()?;
        let srv = it.next()?.parse().ok()?;
        let n = it.next()?.parse().ok()?;
        if it.next().is_some() {
            return None;
        }
        map.insert(d, (srv, n));
    }
    (!map.is_empty()).then_some(Position::MariaDb(map))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_keep_the_highest_sequence_per_domain() {
        let c = Causal::new(Duration::from_secs(1));
        c.merge(parse_mariadb("0-1-5").unwrap());
        c.merge(parse_mariadb("0-1-3,1-2-9").unwrap());
        c.merge(parse_mariadb("0-3-6").unwrap());
        assert_eq!(c.position().unwrap().text(), "0-3-6,1-2-9");
    }

    #[test]
    fn odd_gtids_are_ignored() {
        assert_eq!(parse_mariadb(""), None);
        assert_eq!(parse_mariadb("0-1"), None);
        assert_eq!(parse_mariadb("0-1-2-3"), None);
        assert_eq!(parse_mariadb("a-1-2"), None);
    }
}
