//! Read-your-writes over asynchronous replicas (`causal_reads=true`): route first, then wait.
//!
//! After a write through the pool, the source's position of that write is remembered: on
//! MariaDB the session's `@@last_gtid` (one `domain-server-sequence` GTID), on MySQL the
//! source's `@@global.gtid_executed` set. Positions are kept per GTID domain (the highest
//! sequence number of each), so writes through several sources in different domains are all
//! waited for. A read checked out of the reader side then goes where that position is applied
//! (`hooks.rs` does the checkout; positions and how they compare are in `gtid.rs`):
//!
//! 1. **Route.** What each replica has applied is known from the replication monitor, which
//!    reads it every `health_check_interval` from the status query it already sends (MariaDB:
//!    `Gtid_Slave_Pos` of `SHOW ALL SLAVES STATUS`; MySQL: `Executed_Gtid_Set` of `SHOW
//!    REPLICA STATUS`), and from what checkouts see on the way. A read goes to a replica known
//!    to have the pool's last write, with no query at all.
//! 2. **Check, without waiting.** When none is known to have it, the strategy's pick and then
//!    each other replica, once, is asked whether it has it now (`MASTER_GTID_WAIT(pos, 0)`,
//!    `GTID_SUBSET` on MySQL: both answer at once), each step bounded by `ping_timeout`. The
//!    first that has it serves. The same round trip returns the replica's applied position,
//!    so one that is behind is known to be, and one that has it is known to have it.
//! 3. **Wait.** Only when none has it does the least-behind replica wait (`MASTER_GTID_WAIT`,
//!    `WAIT_FOR_EXECUTED_GTID_SET`), for what is left of `causal_read_timeout`; if it does not
//!    get there the read goes to a source, which has every write made through the pool.
//!    "Least behind": one applying before one the monitor saw stalled (SQL thread stopped),
//!    then the fewest transactions short. Right after a write the replica that keeps up may
//!    be a moment short too, at the same position as a stopped one; the monitor's view tells
//!    them apart.
//!
//! So a lagging replica costs a causal read one round trip instead of the whole
//! `causal_read_timeout`, while the replicas that have the write serve it. This is
//! ProxySQL's GTID-aware routing (ProxySQL 2.0 "causal reads": `proxysql_binlog_reader` on
//! each server streams its executed GTIDs, and a read goes only to a server known to have
//! executed the session's last GTID). Without a process on the servers, knowledge here lags
//! by up to an interval; step 2 covers the gap at the cost of what a plain wait used to cost,
//! one round trip.
//!
//! What a MariaDB replica "has applied" is `@@gtid_slave_pos`, not `@@gtid_current_pos`:
//! the slave position is exactly what the replication threads applied, and it is what
//! `MASTER_GTID_WAIT` compares against, so a routing decision made from it agrees with what a
//! wait on that server would say. `gtid_current_pos` also counts transactions written
//! locally on the replica (with its own server id), which could carry a domain's sequence
//! past the source's write without containing it; `gtid_binlog_pos` needs
//! `log_slave_updates`.
//!
//! Known positions are lower bounds, which is what makes routing safe: a monitor reading or a
//! check's reading replaces what was known (so a rebuilt replica whose position went back is
//! believed ahead for at most an interval), and a successful wait raises it to what was
//! waited for. A host that stops answering is forgotten. A read never goes to a replica that
//! is not known or seen to have the pool's last write, so it never returns data older than
//! that write.
//!
//! The wait happens once per checkout: reads in a checkout see every write made through the
//! pool before the checkout, not writes made during it. A handle that takes a new connection
//! mid-way (after a lost one) is held to the same position on that connection (`recheck`).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use tokio::time::timeout;

pub(crate) use super::gtid::Position;
use crate::addr::HostAddr;

/// The servers' dialect of GTIDs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavor {
    MariaDb,
    MySql,
}

/// The pool's last write position, and what each replica is known to have applied.
#[derive(Debug)]
pub(crate) struct Causal {
    pos: Mutex<Option<Position>>,
    /// Per host, a position it is known to have applied (a lower bound).
    applied: Mutex<HashMap<HostAddr, Position>>,
    /// Replicas the monitor last saw not applying (SQL thread stopped, or not connected to
    /// their source): never the one to wait on while another may still get there.
    stalled: Mutex<HashSet<HostAddr>>,
    wait: Duration,
}

impl Causal {
    pub(crate) fn new(wait: Duration) -> Causal {
        Causal {
            pos: Mutex::new(None),
            applied: Mutex::new(HashMap::new()),
            stalled: Mutex::new(HashSet::new()),
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
                    Ok::<_, mysql_async::Error>(g.and_then(|g| Position::mariadb(&g)))
                }
                Flavor::MySql => {
                    let g: Option<String> =
                        conn.query_first("SELECT @@global.gtid_executed").await?;
                    Ok(g.and_then(|g| Position::mysql(&g)))
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
        match g.as_mut() {
            Some(have) => have.merge(p),
            None => *g = Some(p),
        }
    }

    fn applied(&self) -> std::sync::MutexGuard<'_, HashMap<HostAddr, Position>> {
        self.applied.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What `host` has applied, read from it just now (by the monitor, or with a check);
    /// `None` (not a replica, not answering) forgets it. Replaces what was known: a reading
    /// is a lower bound however old, and taking it as it is keeps a replica whose position
    /// went back from being believed ahead.
    pub(crate) fn observed(&self, host: &HostAddr, pos: Option<Position>) {
        let mut applied = self.applied();
        match pos {
            Some(p) => {
                applied.insert(host.clone(), p);
            }
            None => {
                applied.remove(host);
            }
        }
    }

    /// `host` was seen to have applied at least `pos` (a wait there succeeded).
    pub(crate) fn learned(&self, host: &HostAddr, pos: Position) {
        let mut applied = self.applied();
        match applied.get_mut(host) {
            Some(have) => have.merge(pos),
            None => {
                applied.insert(host.clone(), pos);
            }
        }
    }

    /// Whether `host` is known to have applied `target`.
    pub(crate) fn known_to_have(&self, host: &HostAddr, target: &Position) -> bool {
        self.applied().get(host).is_some_and(|p| p.covers(target))
    }

    /// How many transactions of `target` `host` is known to lack; `None`: not known.
    pub(crate) fn known_behind(&self, host: &HostAddr, target: &Position) -> Option<u64> {
        self.applied().get(host).and_then(|p| p.behind(target))
    }

    /// Whether the monitor's last round saw `host` applying nothing (see `stalled`).
    pub(crate) fn set_stalled(&self, host: &HostAddr, stalled: bool) {
        let mut set = self.stalled.lock().unwrap_or_else(|e| e.into_inner());
        if stalled {
            set.insert(host.clone());
        } else {
            set.remove(host);
        }
    }

    /// Which of the replicas that lack `target` to wait on: the lowest rank. One that is
    /// applying comes before a stalled one, then the fewer transactions short the better;
    /// unknown counts as furthest. A stalled replica may tie on position with one that is
    /// merely a moment behind, right after a write.
    pub(crate) fn wait_rank(&self, host: &HostAddr, target: &Position) -> (bool, u64) {
        let stalled = self
            .stalled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(host);
        (stalled, self.known_behind(host, target).unwrap_or(u64::MAX))
    }
}

/// Asks `conn`'s server, without waiting, whether it has applied `pos`, and what it has
/// applied (`None` if it does not say). One round trip.
pub(crate) async fn check(
    conn: &mut Conn,
    pos: &Position,
) -> mysql_async::Result<(bool, Option<Position>)> {
    let text = pos.text().replace('\'', "");
    let (sql, reached) = match (pos, flavor(conn)) {
        // A zero timeout answers at once: 0 reached, -1 not.
        (Position::MariaDb(_), Flavor::MariaDb) => (
            format!("SELECT MASTER_GTID_WAIT('{text}', 0), @@global.gtid_slave_pos"),
            0,
        ),
        // WAIT_FOR_EXECUTED_GTID_SET's zero timeout is not documented alike; GTID_SUBSET
        // never waits. 1: contained.
        (Position::MySql(_), Flavor::MySql) => (
            format!("SELECT GTID_SUBSET('{text}', @@global.gtid_executed), @@global.gtid_executed"),
            1,
        ),
        _ => return Ok((false, None)), // a mixed set-up: cannot tell, so use the source
    };
    let row: Option<(Option<i64>, Option<String>)> = conn.query_first(sql).await?;
    let Some((answer, applied)) = row else {
        return Ok((false, None));
    };
    let applied = applied.and_then(|a| match pos {
        Position::MariaDb(_) => Position::mariadb(&a),
        Position::MySql(_) => Position::mysql(&a),
    });
    Ok((answer == Some(reached), applied))
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
pub(crate) fn flavor(conn: &Conn) -> Flavor {
    if conn.server_version().0 >= 10 {
        Flavor::MariaDb
    } else {
        Flavor::MySql
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Position {
        Position::mariadb(s).unwrap()
    }

    #[test]
    fn the_last_write_keeps_the_highest_sequence_per_domain() {
        let c = Causal::new(Duration::from_secs(1));
        c.merge(m("0-1-5"));
        c.merge(m("0-1-3,1-2-9"));
        c.merge(m("0-3-6"));
        assert_eq!(c.position().unwrap().text(), "0-3-6,1-2-9");
    }

    #[test]
    fn readings_replace_and_successful_waits_raise_what_a_host_is_known_to_have() {
        let c = Causal::new(Duration::from_secs(1));
        let (a, b) = (HostAddr::new("a", 1), HostAddr::new("b", 1));
        let target = m("0-1-10");
        assert!(!c.known_to_have(&a, &target), "nothing known");
        assert_eq!(c.known_behind(&a, &target), None);
        c.observed(&a, Some(m("0-1-7")));
        assert!(!c.known_to_have(&a, &target));
        assert_eq!(c.known_behind(&a, &target), Some(3));
        c.learned(&a, m("0-1-10"));
        assert!(c.known_to_have(&a, &target));
        // A later reading that went back is believed: readings are lower bounds as read.
        c.observed(&a, Some(m("0-1-4")));
        assert!(!c.known_to_have(&a, &target));
        // Learning never lowers what is known.
        c.learned(&b, m("0-1-12"));
        c.learned(&b, m("0-1-2"));
        assert!(c.known_to_have(&b, &target));
        c.observed(&b, None);
        assert!(!c.known_to_have(&b, &target), "forgotten");
    }

    #[test]
    fn a_replica_that_applies_is_waited_on_before_a_stalled_one_at_the_same_position() {
        let c = Causal::new(Duration::from_secs(1));
        let (a, b) = (HostAddr::new("a", 1), HostAddr::new("b", 1));
        let target = m("0-1-10");
        c.observed(&a, Some(m("0-1-9")));
        c.observed(&b, Some(m("0-1-9")));
        c.set_stalled(&a, true);
        assert!(c.wait_rank(&b, &target) < c.wait_rank(&a, &target));
        c.observed(&b, Some(m("0-1-2")));
        assert!(
            c.wait_rank(&b, &target) < c.wait_rank(&a, &target),
            "even further behind"
        );
        c.set_stalled(&a, false);
        assert!(
            c.wait_rank(&a, &target) < c.wait_rank(&b, &target),
            "then by position"
        );
        assert_eq!(
            c.wait_rank(&HostAddr::new("c", 1), &target),
            (false, u64::MAX)
        );
    }
}
