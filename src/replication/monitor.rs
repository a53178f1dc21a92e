//! Checking roles and lag instead of trusting the URL.
//!
//! Every `health_check_interval`, and at once when a write meets a read-only server (errors
//! 1290, 1792, 1836), each host is asked whether it is read-only (`role_query`, by default
//! `@@global.read_only OR @@global.innodb_read_only`: an Aurora reader shows only in
//! `innodb_read_only`, as ProxySQL found in its issue #1195) and its replication status, over
//! one monitoring connection per host, every step bounded. From the answers:
//!
//! - **Writers** are the reachable hosts with `read_only=0`. Configured sources that are
//!   writable are preferred, so a replica that merely lacks `read_only` does not take writes;
//!   when no configured source is writable any more (it was demoted), the writable hosts are
//!   the writers: a promoted replica is found without a restart. When no host is writable and
//!   reachable (the source is down), the writers stay as they were: the blacklist makes
//!   writes fail fast, and the source is used again when it returns.
//! - **Readers** are the hosts with `read_only=1` (and configured replicas not yet seen),
//!   minus those lagging: behind by more than `max_replication_lag`, or with replication
//!   stopped (the lag is then unknown), as ProxySQL shuns lagging replicas. If every replica
//!   is lagging, reads go to the source when `readFromSourceWhenNoReplicas` is set, and else
//!   to the least-behind replica: stale reads rather than no reads.
//!
//! A host that does not answer keeps its last known role; whether to use it is the
//! blacklist's business.
//!
//! On a Galera cluster (`Mode::Galera`) the same round reads each node's state instead, in
//! one statement, and `galera.rs` decides which nodes serve and which one writes.
//!
//! The same status row gives each replica's applied GTID position, for causal reads
//! (`causal.rs`): `Executed_Gtid_Set` on MySQL; on MariaDB `Gtid_Slave_Pos`, which only
//! `SHOW ALL SLAVES STATUS` has, so that is the statement sent to MariaDB (its row for the
//! default connection is the one `SHOW SLAVE STATUS` gives). No extra round trip.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};
use tokio::time::timeout;

use super::causal::{self, Flavor, Position};
use super::discover;
use super::galera::{Node, NodeState};
use crate::dial::Dialer;
use crate::opts::{HostAddr, HostSpec, LbOpts, Mode, Role};

/// What one check of one host found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Probe {
    pub read_only: bool,
    /// `None`: not a replica. `Some(None)`: a replica whose lag is unknown (stopped).
    pub lag: Option<Option<u64>>,
    /// What a replica has applied (`None`: not a replica, or not said).
    pub applied: Option<Position>,
    /// A Galera node's state (`None` outside `Mode::Galera`).
    pub galera: Option<NodeState>,
    /// With `discover_hosts`: the hosts this one reports (a source's replicas, a Galera
    /// node's members); `None` when not asked or not said.
    pub peers: Option<Vec<HostAddr>>,
}

impl Probe {
    /// What a check of a Galera node found.
    pub(crate) fn galera(state: NodeState) -> Probe {
        Probe {
            read_only: state.read_only,
            lag: None,
            applied: None,
            peers: Some(discover::members(&state.incoming)),
            galera: Some(state),
        }
    }
}

/// A host as the monitor knows it.
#[derive(Debug)]
pub(crate) struct Known {
    pub spec: HostSpec,
    pub last: Option<Probe>,
    pub reachable: bool,
    pub conn: Option<Conn>,
    /// Found by discovery rather than given in the URL: dropped when no longer reported.
    pub discovered: bool,
}

impl Known {
    pub(crate) fn new(spec: HostSpec) -> Known {
        Known {
            spec,
            last: None,
            reachable: false,
            conn: None,
            discovered: false,
        }
    }

    /// Whether it is further behind than `max` (never, without a bound or when not a replica).
    pub(crate) fn lagging(&self, max: Option<Duration>) -> bool {
        match (max, self.last.as_ref().and_then(|p| p.lag)) {
            (Some(max), Some(Some(lag))) => Duration::from_secs(lag) > max,
            (Some(_), Some(None)) => true,
            _ => false,
        }
    }

    /// This host as a Galera node: its state, `None` when its last check failed.
    pub(crate) fn node(&self) -> Node<'_> {
        Node {
            spec: &self.spec,
            state: self
                .last
                .as_ref()
                .filter(|_| self.reachable)
                .and_then(|p| p.galera.as_ref()),
        }
    }

    fn is_writable(&self) -> bool {
        self.reachable && self.last.as_ref().is_some_and(|p| !p.read_only)
    }

    fn is_reader(&self) -> bool {
        match &self.last {
            Some(p) => p.read_only,
            // A configured replica not seen yet may serve; a discovered one is checked first.
            None => self.spec.role == Role::Replica && !self.discovered,
        }
    }

    fn lag_rank(&self) -> u64 {
        match self.last.as_ref().and_then(|p| p.lag) {
            Some(Some(l)) => l,
            _ => u64::MAX,
        }
    }
}

/// Whether the role query's answer means "read-only": a number other than 0, or text such
/// as `ON`, `1`, `true` (a custom query may return `@@global.read_only` as text).
fn truthy(v: mysql_async::Value) -> bool {
    use mysql_async::Value;
    match v {
        Value::Int(n) => n != 0,
        Value::UInt(n) => n != 0,
        Value::Double(f) => f != 0.0,
        Value::Float(f) => f != 0.0,
        Value::Bytes(b) => {
            let t = String::from_utf8_lossy(&b).trim().to_ascii_lowercase();
            matches!(t.as_str(), "on" | "true" | "yes") || t.parse::<f64>().is_ok_and(|n| n != 0.0)
        }
        _ => false,
    }
}

/// Checks one host, reusing its monitoring connection; every step bounded. The role comes
/// from `role_query` (by default `read_only` or `innodb_read_only`).
pub(crate) async fn probe(
    opts: &LbOpts,
    addr: &HostAddr,
    conn: &mut Option<Conn>,
) -> Option<Probe> {
    let bound = opts.connect_timeout() + opts.ping_timeout();
    let run = async {
        if conn.is_none() {
            // Rare (the connection is kept between rounds): the dialer is made when needed.
            *conn = Some(Dialer::new(opts, addr).dial().await?);
        }
        let c = conn.as_mut().expect("set above");
        if opts.mode() == Mode::Galera {
            return Ok(Probe::galera(NodeState::read(c).await?));
        }
        let read_only = c
            .query_first::<mysql_async::Value, _>(opts.role_query())
            .await?
            .is_some_and(truthy);
        let flavor = causal::flavor(c);
        // The first statement of the flavor; the second when the server refuses it (MySQL
        // 8.4 has no SHOW SLAVE STATUS; MariaDB before 10.0 has no ALL, nor GTIDs).
        let [first, second] = match flavor {
            Flavor::MariaDb => ["SHOW ALL SLAVES STATUS", "SHOW SLAVE STATUS"],
            Flavor::MySql => ["SHOW SLAVE STATUS", "SHOW REPLICA STATUS"],
        };
        let rows: Vec<Row> = match c.query(first).await {
            Ok(r) => r,
            Err(mysql_async::Error::Server(_)) => c.query(second).await.unwrap_or_default(),
            Err(e) => return Err(e),
        };
        let status = default_connection(rows);
        let applied = status.as_ref().and_then(|row| {
            let text: Option<String> = take(row, &["Gtid_Slave_Pos", "Executed_Gtid_Set"]);
            match flavor {
                Flavor::MariaDb => Position::mariadb(&text?),
                Flavor::MySql => Position::mysql(&text?),
            }
        });
        let lag = status.map(|row| {
            let running: Option<String> = take(&row, &["Slave_SQL_Running", "Replica_SQL_Running"]);
            let behind: Option<u64> =
                take(&row, &["Seconds_Behind_Master", "Seconds_Behind_Source"]);
            if running.as_deref() == Some("Yes") {
                behind
            } else {
                None
            }
        });
        let peers = if opts.discover_hosts() && !read_only {
            match discover::replicas_of(c).await {
                Ok(hosts) => Some(hosts),
                // Not allowed (MariaDB needs REPLICATION MASTER ADMIN): nothing said.
                Err(mysql_async::Error::Server(e)) => {
                    tracing::debug!(host = %addr, error = %e, "cannot list replicas");
                    None
                }
                Err(e) => return Err(e),
            }
        } else {
            None
        };
        Ok::<_, mysql_async::Error>(Probe {
            read_only,
            lag,
            applied,
            galera: None,
            peers,
        })
    };
    match timeout(bound, run).await {
        Ok(Ok(p)) => Some(p),
        Ok(Err(e)) => {
            tracing::debug!(host = %addr, error = %e, "health check failed");
            *conn = None;
            None
        }
        Err(_) => {
            *conn = None; // cancelled mid-statement: never reused
            None
        }
    }
}

fn take<T: mysql_async::prelude::FromValue>(row: &Row, names: &[&str]) -> Option<T> {
    names
        .iter()
        .find_map(|n| row.get_opt::<Option<T>, _>(*n).and_then(Result::ok))
        .flatten()
}

/// The row of the default replication connection (name `''`), as `SHOW SLAVE STATUS` shows
/// it; the first row when there is none of that name (or no names: MySQL).
fn default_connection(rows: Vec<Row>) -> Option<Row> {
    let named =
        |r: &Row, name: &str| take::<String>(r, &["Connection_name"]).as_deref() == Some(name);
    let i = rows.iter().position(|r| named(r, "")).unwrap_or(0);
    rows.into_iter().nth(i)
}

/// The writers and readers the module docs describe, from what is known.
pub(crate) fn assign(
    known: &[Known],
    writers_now: &[HostSpec],
    max_lag: Option<Duration>,
    read_from_source: bool,
) -> (Vec<HostSpec>, Vec<HostSpec>) {
    let as_role = |k: &Known, role: Role| HostSpec {
        addr: k.spec.addr.clone(),
        role,
    };
    let writable: Vec<&Known> = known.iter().filter(|k| k.is_writable()).collect();
    let preferred: Vec<&Known> = writable
        .iter()
        .copied()
        .filter(|k| writers_now.iter().any(|w| w.addr == k.spec.addr))
        .collect();
    let writers: Vec<HostSpec> = if !preferred.is_empty() {
        preferred.iter().map(|k| as_role(k, Role::Source)).collect()
    } else if !writable.is_empty() {
        writable.iter().map(|k| as_role(k, Role::Source)).collect()
    } else {
        writers_now.to_vec()
    };
    let replicas: Vec<&Known> = known
        .iter()
        .filter(|k| k.is_reader() && !writers.iter().any(|w| w.addr == k.spec.addr))
        .collect();
    let fresh: Vec<&Known> = replicas
        .iter()
        .copied()
        .filter(|k| !k.lagging(max_lag))
        .collect();
    let readers: Vec<HostSpec> = if !fresh.is_empty() {
        fresh.iter().map(|k| as_role(k, Role::Replica)).collect()
    } else if read_from_source || replicas.is_empty() {
        if read_from_source {
            writers.clone()
        } else {
            Vec::new()
        }
    } else {
        let least = replicas
            .iter()
            .map(|k| k.lag_rank())
            .min()
            .unwrap_or(u64::MAX);
        replicas
            .iter()
            .filter(|k| k.lag_rank() == least)
            .map(|k| as_role(k, Role::Replica))
            .collect()
    };
    (writers, readers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(port: u16, role: Role, probe: Option<(bool, Option<Option<u64>>)>) -> Known {
        Known {
            spec: HostSpec {
                addr: HostAddr::new("h", port),
                role,
            },
            reachable: probe.is_some(),
            discovered: false,
            last: probe.map(|(read_only, lag)| Probe {
                read_only,
                lag,
                applied: None,
                galera: None,
                peers: None,
            }),
            conn: None,
        }
    }

    fn ports(v: &[HostSpec]) -> Vec<u16> {
        v.iter().map(|h| h.addr.port()).collect()
    }

    #[test]
    fn a_promoted_replica_becomes_the_writer() {
        let k = vec![
            known(1, Role::Source, Some((true, Some(Some(0))))),
            known(2, Role::Replica, Some((false, None))),
            known(3, Role::Replica, Some((true, Some(Some(0))))),
        ];
        let writers_now = vec![k[0].spec.clone()];
        let (w, r) = assign(&k, &writers_now, None, false);
        assert_eq!(ports(&w), [2]);
        assert_eq!(ports(&r), [1, 3]);
    }

    #[test]
    fn a_dead_source_stays_the_writer_and_a_writable_replica_does_not_take_over() {
        let k = vec![
            known(1, Role::Source, None),
            known(2, Role::Replica, Some((true, Some(Some(0))))),
        ];
        let writers_now = vec![k[0].spec.clone()];
        let (w, r) = assign(&k, &writers_now, None, false);
        assert_eq!(ports(&w), [1]);
        assert_eq!(ports(&r), [2]);
        let k = vec![
            known(1, Role::Source, Some((false, None))),
            known(2, Role::Replica, Some((false, Some(Some(0))))),
        ];
        let (w, _) = assign(&k, &writers_now, None, false);
        assert_eq!(ports(&w), [1], "the configured source is preferred");
    }

    #[test]
    fn lagging_replicas_are_left_out_and_the_least_behind_serves_when_all_lag() {
        let max = Some(Duration::from_secs(5));
        let mut k = vec![
            known(1, Role::Source, Some((false, None))),
            known(2, Role::Replica, Some((true, Some(Some(1))))),
            known(3, Role::Replica, Some((true, Some(None)))),
        ];
        let writers_now = vec![k[0].spec.clone()];
        let (_, r) = assign(&k, &writers_now, max, false);
        assert_eq!(ports(&r), [2]);
        k[1].last = Some(Probe {
            read_only: true,
            lag: Some(Some(60)),
            applied: None,
            galera: None,
            peers: None,
        });
        let (_, r) = assign(&k, &writers_now, max, false);
        assert_eq!(ports(&r), [2], "least behind; unknown lag counts as worst");
        let (_, r) = assign(&k, &writers_now, max, true);
        assert_eq!(ports(&r), [1], "or the source when allowed");
    }
}
