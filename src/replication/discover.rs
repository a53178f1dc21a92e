//! Hosts found by the pool (`discover_hosts=true`): replicas a source lists, members a Galera
//! node lists.
//!
//! The reconnection survey this crate started from ends with etcd's client, which keeps its
//! member list in step with the cluster (`autoSync`): a replica added to a replication set
//! or a node added to a Galera cluster should get traffic without a redeploy. The servers
//! already say who they are:
//! - A source lists its replicas in `SHOW SLAVE HOSTS` (`SHOW REPLICAS` on MySQL 8.4): the
//!   `report_host` and `report_port` each replica registered with. A replica without
//!   `report_host` is not listed, so it cannot be found this way. (The source's process list
//!   shows a replica's IP but the port of its outgoing connection, not the one it serves on,
//!   so it cannot stand in.)
//! - A Galera node lists the members of its component in `wsrep_incoming_addresses` (each
//!   node's `wsrep_node_incoming_address`, `AUTO` when unset), read in the monitor's state
//!   query at no extra cost.
//!
//! Each monitor round ([`reconcile`]):
//! - What the writable sources (replication) or the nodes in rotation (Galera) report is the
//!   cluster as it is. A host that none of them answered for says nothing: when no such
//!   host answered, nothing is added or dropped (a source that is down does not make its
//!   replicas leave).
//! - A reported host that the monitor does not know is added to what it checks, with the
//!   role the report implies. It gets no traffic yet: it is checked like any host (role,
//!   lag, node state) in the next round, and put in a pool only if that check says so, where
//!   it slow-starts as any host added to a pool does. So a discovered host serves within two
//!   rounds of `health_check_interval`.
//! - A host the monitor added this way that is no longer reported is dropped: out of the
//!   monitor and the pools, its connections in use given the pools' grace. Hosts of the URL
//!   are never dropped.
//!
//! Off by default: the addresses are the servers' own view of themselves, which behind NAT,
//! in containers, or behind a proxy is often not how a client reaches them (a replica that
//! reports 127.0.0.1 to a source on another machine). Hosts are told apart by name and port
//! as written, so a host configured by name and reported by IP is two hosts; configure them
//! the way the servers report them.
//!
//! Cost: one `SHOW SLAVE HOSTS` per writable source per round; nothing more on Galera.

use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use super::monitor::Known;
use crate::opts::{HostAddr, HostSpec, Role, reported_host};

/// The replicas a source lists: `SHOW SLAVE HOSTS`, or `SHOW REPLICAS` where the former is
/// gone (MySQL 8.4).
pub(crate) async fn replicas_of(conn: &mut Conn) -> Result<Vec<HostAddr>, mysql_async::Error> {
    let rows: Vec<mysql_async::Row> = match conn.query("SHOW SLAVE HOSTS").await {
        Ok(rows) => rows,
        Err(mysql_async::Error::Server(_)) => conn.query("SHOW REPLICAS").await?,
        Err(e) => return Err(e),
    };
    Ok(rows
        .iter()
        .filter_map(|row| {
            let host: String = row.get_opt(1)?.ok()?;
            let port: u16 = row.get_opt(2)?.ok()?;
            reported_host(&format!("{}:{port}", bracket(&host)))
        })
        .collect())
}

/// The members a Galera node lists in `wsrep_incoming_addresses` (`AUTO` entries left out).
pub(crate) fn members(incoming: &str) -> Vec<HostAddr> {
    split_addresses(incoming)
        .into_iter()
        .filter_map(reported_host)
        .collect()
}

/// A host name or IP as text for `host:port`: an IPv6 literal gets brackets.
fn bracket(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// Splits a comma list whose items may be `[v6]:port` (commas never sit inside brackets in
/// practice, but the split does not rely on it).
fn split_addresses(list: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (i, c) in list.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(list[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(list[start..].trim());
    out.retain(|s| !s.is_empty());
    out
}

/// What a round changed: hosts added to what the monitor checks, and hosts dropped.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Changes {
    pub added: Vec<HostAddr>,
    pub dropped: Vec<HostAddr>,
}

/// Adds the reported hosts the monitor does not know (as `role`) and drops the discovered
/// hosts no longer reported; `reported` is `None` when no host that could report answered.
pub(crate) fn reconcile(
    known: &mut Vec<Known>,
    reported: Option<Vec<HostAddr>>,
    role: Role,
) -> Changes {
    let Some(reported) = reported else {
        return Changes::default();
    };
    let mut changes = Changes::default();
    known.retain(|k| {
        let stays = !k.discovered || reported.contains(&k.spec.addr);
        if !stays {
            changes.dropped.push(k.spec.addr.clone());
        }
        stays
    });
    for addr in reported {
        if !known.iter().any(|k| k.spec.addr == addr) {
            let mut k = Known::new(HostSpec {
                addr: addr.clone(),
                role,
            });
            k.discovered = true;
            known.push(k);
            changes.added.push(addr);
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> HostAddr {
        HostAddr::new("127.0.0.1", port)
    }

    #[test]
    fn members_are_read_and_auto_is_left_out() {
        assert_eq!(
            members("127.0.0.1:3306,AUTO, [::1]:3307,db-2.example:3308,,bad:0,noport"),
            vec![
                addr(3306),
                HostAddr::new("::1", 3307),
                HostAddr::new("db-2.example", 3308)
            ]
        );
        assert!(members("AUTO,AUTO,AUTO").is_empty());
        assert!(members("").is_empty());
    }

    #[test]
    fn reported_hosts_come_and_go_but_configured_ones_stay() {
        let spec = |port| HostSpec {
            addr: addr(port),
            role: Role::Replica,
        };
        let mut known = vec![Known::new(spec(1)), Known::new(spec(2))];
        let c = reconcile(&mut known, Some(vec![addr(2), addr(3)]), Role::Replica);
        assert_eq!(c.added, vec![addr(3)]);
        assert!(c.dropped.is_empty());
        assert!(known[2].discovered && known[2].spec.role == Role::Replica);
        // Nobody answered: nothing changes.
        assert_eq!(
            reconcile(&mut known, None, Role::Replica),
            Changes::default()
        );
        // 3 is no longer listed: dropped; 1 is not listed either, but it is in the URL.
        let c = reconcile(&mut known, Some(vec![addr(2)]), Role::Replica);
        assert_eq!(c.dropped, vec![addr(3)]);
        let ports: Vec<u16> = known.iter().map(|k| k.spec.addr.port()).collect();
        assert_eq!(ports, [1, 2]);
    }
}
