//! DNS SRV connection strings (feature `srv`): the hosts of a `mysql+srv://` URL come from the
//! SRV records of the one name it gives, and a pool follows them as they change.
//!
//! **Where the rules come from.** MySQL Connector/J's "Support for DNS SRV Records"
//! (Connector/J 8.0.19 and later): the schemes `jdbc:mysql+srv:` (failover),
//! `jdbc:mysql+srv:loadbalance:` and `jdbc:mysql+srv:replication:`; exactly one host, the SRV
//! name, and no port (both errors there too); the name is looked up as given, no
//! `_mysql._tcp.` prefix added. Its order of hosts is RFC 2782's, which Connector/J's
//! `DnsSrv.sortSrvRecords` implements and this module follows:
//!
//! 1. records by priority, lowest first (a client must use the lowest priority it can reach);
//! 2. within one priority, a weighted random order: each next host is drawn with probability
//!    weight / (sum of the weights left), a weight of 0 getting a small chance (RFC 2782:
//!    "records with weight 0 should have a very small chance of being selected").
//!
//! Under `failover` (`sequential`) that order is the preference: the first host takes the
//! traffic, the next when it fails. Because the draw is made per process, processes spread
//! over the hosts of the best priority in proportion to their weights, as RFC 2782 intends.
//! Under `loadbalance` every record's host takes part and the strategy spreads the traffic
//! over all of them, as Connector/J does (its balancers ignore the order): priority and weight
//! order the list but do not set shares. To keep a backup out of the rotation, use failover.
//!
//! **Replication and Galera** are refused for now: Connector/J's replication takes two SRV
//! names (sources, replicas), and our replication and Galera pools do not follow a changing
//! host list yet; resolving once and going stale would be worse than saying so.
//!
//! **Refresh.** A pool re-reads the records every `srv_refresh` (default 30 s) in a task of
//! its own. When the set of records changes, the hosts are replaced with
//! `LoadBalancedPool::set_hosts`: new hosts get checkouts at once (with slow start), removed
//! ones get no new checkouts and their connections in use may finish within a grace of 10 s.
//! An unchanged set changes nothing (the order drawn for it stays). A lookup that fails or
//! finds no record keeps the last good list and is logged (`tracing`, WARN): DNS trouble must
//! not empty a working pool. The resolver's cache honours the records' TTL, so a refresh
//! more frequent than the TTL costs no query: hosts move within `srv_refresh` + TTL.
//!
//! **Bounds.** Each lookup is bounded by `connect_timeout` as a whole (hickory's own per-query
//! timeout is half of it, with one retry), so a dead DNS server costs a refresh that long and
//! never a statement: statements do not wait for DNS.
//!
//! **DNS servers and targets.** The system's configuration (`/etc/resolv.conf`) unless
//! `dns_servers` names servers (`127.0.0.1:8600` for a local Consul agent), asked over UDP,
//! then TCP when an answer is truncated. With the system's servers a target
//! (`db1.example.com`) becomes a host name, resolved when connecting as any host of a URL is
//! (and `verify_identity` checks that name). With `dns_servers` the system resolver that a
//! connect uses would not know the targets (`db1.node.consul`), so each target is looked up
//! (A/AAAA, first address) through those servers at every refresh and the host is that
//! address; a target whose address changes counts as a changed record set. Under
//! `verify_identity` set `ssl_server_name` then, as the host is an IP address.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;

use crate::error::Error;
use crate::opts::{HostSpec, LbOpts, Role};

/// How long a removed host's connections in use may go on (the replication pool's grace for
/// a role change, for the same reason: a transaction under way may finish).
pub(crate) const GRACE: Duration = Duration::from_secs(10);

/// One SRV record, as read.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Record {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    /// The target host name, without the root's trailing dot, lower-cased.
    pub target: String,
}

/// RFC 2782's order (see the module docs); `draw(n)` returns a number below `n`.
pub(crate) fn order(records: &[Record], mut draw: impl FnMut(u64) -> u64) -> Vec<Record> {
    let mut sorted = records.to_vec();
    sorted.sort();
    let mut out = Vec::with_capacity(sorted.len());
    let mut rest = sorted.as_slice();
    while let Some(first) = rest.first() {
        let same = rest
            .iter()
            .take_while(|r| r.priority == first.priority)
            .count();
        let mut group: Vec<Record> = rest[..same].to_vec();
        rest = &rest[same..];
        while !group.is_empty() {
            // A weight of 0 counts as a tiny one: picked last, in practice, but not never.
            let weights: Vec<u64> = group
                .iter()
                .map(|r| {
                    if r.weight == 0 {
                        1
                    } else {
                        u64::from(r.weight) * 1000
                    }
                })
                .collect();
            let total: u64 = weights.iter().sum();
            let mut pick = draw(total);
            let mut at = 0;
            while at + 1 < group.len() && pick >= weights[at] {
                pick -= weights[at];
                at += 1;
            }
            out.push(group.remove(at));
        }
    }
    out
}

/// The hosts for an ordered record list: one per target and port (a repeated pair keeps its
/// first place). A target `.` (RFC 2782: "the service is decidedly not available") adds none.
pub(crate) fn hosts_of(records: &[Record]) -> Vec<HostSpec> {
    let mut out: Vec<HostSpec> = Vec::new();
    for r in records {
        if r.target.is_empty() || r.port == 0 {
            continue;
        }
        let spec = HostSpec::new(r.target.clone(), r.port, Role::Any);
        if !out.iter().any(|h| h.addr == spec.addr) {
            out.push(spec);
        }
    }
    out
}

/// Looks up one SRV name, again and again, with one resolver (its cache and connections are
/// kept between lookups).
pub(crate) struct SrvSource {
    name: String,
    resolver: TokioResolver,
    bound: Duration,
    /// With `dns_servers`, the targets' names are looked up here too: the system's resolver,
    /// which a connect uses, does not know those servers (a Consul agent's `*.consul` names).
    targets_by_address: bool,
    /// The last record set read and the hosts it gave, to leave an unchanged set alone.
    last: Option<(BTreeSet<Record>, Vec<HostSpec>)>,
}

impl SrvSource {
    /// A source for `opts`' SRV name, or `None` when the options list hosts.
    pub(crate) fn of(opts: &LbOpts) -> Result<Option<SrvSource>, Error> {
        let Some(name) = opts.srv_name() else {
            return Ok(None);
        };
        let fail = |reason: String| Error::Srv {
            name: name.to_owned(),
            reason,
        };
        let bound = opts.connect_timeout();
        let mut builder = if opts.dns_servers().is_empty() {
            TokioResolver::builder_tokio()
                .map_err(|e| fail(format!("reading the system's DNS configuration: {e}")))?
        } else {
            let servers = opts.dns_servers().iter().map(name_server).collect();
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(servers),
                TokioRuntimeProvider::default(),
            )
        };
        let o = builder.options_mut();
        // Two tries of half the bound each; the whole lookup is bounded again below.
        o.timeout = bound / 2;
        o.attempts = 1;
        let resolver = builder
            .build()
            .map_err(|e| fail(format!("setting up the resolver: {e}")))?;
        Ok(Some(SrvSource {
            name: name.to_owned(),
            resolver,
            bound,
            targets_by_address: !opts.dns_servers().is_empty(),
            last: None,
        }))
    }

    /// The SRV name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Reads the records once, bounded. `Ok(None)`: the same record set as last time.
    pub(crate) async fn hosts(&mut self) -> Result<Option<Vec<HostSpec>>, Error> {
        let records = self.records().await.map_err(|reason| Error::Srv {
            name: self.name.clone(),
            reason,
        })?;
        let set: BTreeSet<Record> = records.iter().cloned().collect();
        if self.last.as_ref().is_some_and(|(s, _)| *s == set) {
            return Ok(None);
        }
        let hosts = hosts_of(&order(&records, |n| {
            crate::random::below(n as usize) as u64
        }));
        if hosts.is_empty() {
            return Err(Error::Srv {
                name: self.name.clone(),
                reason: "no usable record (only `.` targets or port 0)".to_owned(),
            });
        }
        self.last = Some((set, hosts.clone()));
        Ok(Some(hosts))
    }

    /// The hosts of the last good lookup.
    pub(crate) fn last_hosts(&self) -> Option<&[HostSpec]> {
        self.last.as_ref().map(|(_, h)| h.as_slice())
    }

    /// The records, bounded as a whole; with `dns_servers`, each target replaced by its
    /// address as those servers give it.
    async fn records(&self) -> Result<Vec<Record>, String> {
        tokio::time::timeout(self.bound, self.records_unbounded())
            .await
            .map_err(|_| format!("no answer within {:?} (connect_timeout)", self.bound))?
    }

    async fn records_unbounded(&self) -> Result<Vec<Record>, String> {
        let lookup = self
            .resolver
            .srv_lookup(self.name.as_str())
            .await
            .map_err(|e| e.to_string())?;
        let records: Vec<Record> = lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::SRV(srv) => Some(Record {
                    priority: srv.priority,
                    weight: srv.weight,
                    port: srv.port,
                    target: srv
                        .target
                        .to_ascii()
                        .trim_end_matches('.')
                        .to_ascii_lowercase(),
                }),
                _ => None,
            })
            .collect();
        if records.is_empty() {
            return Err("the name has no SRV record".to_owned());
        }
        if !self.targets_by_address {
            return Ok(records);
        }
        let mut out = Vec::with_capacity(records.len());
        for mut r in records {
            if r.target.is_empty() {
                continue;
            }
            let ips = self
                .resolver
                .lookup_ip(format!("{}.", r.target))
                .await
                .map_err(|e| format!("the address of target {}: {e}", r.target))?;
            let ip = ips
                .iter()
                .next()
                .ok_or_else(|| format!("target {} has no address", r.target))?;
            r.target = ip.to_string();
            out.push(r);
        }
        Ok(out)
    }
}

fn name_server(addr: &SocketAddr) -> NameServerConfig {
    let mut udp = ConnectionConfig::udp();
    udp.port = addr.port();
    let mut tcp = ConnectionConfig::tcp();
    tcp.port = addr.port();
    NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
}

impl LbOpts {
    /// For a `+srv` URL: these options with the hosts its SRV records name now, in RFC 2782's
    /// order (see `docs/srv.md`); for other options, a copy. Bounded by `connect_timeout`.
    /// Fails with [`Error::Srv`] when the lookup fails or finds no record. A pool made from
    /// the result still follows the records ([`crate::LoadBalancedPool::connect`]).
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), mysql_lb::Error> {
    /// let opts: mysql_lb::LbOpts = "mysql+srv://app@_mysql._tcp.example.com/shop".parse()?;
    /// let now = opts.resolve().await?;
    /// println!("{:?}", now.hosts());
    /// # Ok(()) }
    /// ```
    pub async fn resolve(&self) -> Result<LbOpts, Error> {
        match SrvSource::of(self)? {
            None => Ok(self.clone()),
            Some(mut source) => {
                let hosts = source.hosts().await?.unwrap_or_default();
                Ok(self.with_hosts(hosts))
            }
        }
    }
}

/// Whether `opts` names an SRV name whose hosts are not known yet.
pub(crate) fn unresolved(opts: &LbOpts) -> bool {
    opts.srv_name().is_some() && opts.hosts().is_empty()
}

/// Shared by a pool and its refresh task: the source, behind a lock so that a lookup made
/// at a checkout and the task's do not run at once.
pub(crate) type SharedSource = Arc<tokio::sync::Mutex<SrvSource>>;

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(priority: u16, weight: u16, port: u16, target: &str) -> Record {
        Record {
            priority,
            weight,
            port,
            target: target.to_owned(),
        }
    }

    #[test]
    fn lower_priority_first_and_weight_decides_within_one() {
        let records = [
            rec(10, 5, 3, "c"),
            rec(0, 10, 2, "b"),
            rec(0, 30, 1, "a"),
            rec(20, 0, 4, "d"),
        ];
        let mut first = std::collections::HashMap::new();
        let mut seed = 7u64;
        for _ in 0..4000 {
            let ordered = order(&records, |n| {
                // A small LCG: deterministic, good enough to count shares.
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (seed >> 33) % n
            });
            let targets: Vec<&str> = ordered.iter().map(|r| r.target.as_str()).collect();
            assert_eq!(&targets[2..], ["c", "d"], "{targets:?}");
            *first.entry(targets[0].to_owned()).or_insert(0) += 1;
        }
        // Weights 30 and 10: `a` first about 3 times in 4.
        let a = first["a"] as f64 / 4000.0;
        assert!((0.70..0.80).contains(&a), "a first in {a}");
    }

    #[test]
    fn weight_zero_is_still_ordered_and_dot_targets_give_no_host() {
        let ordered = order(&[rec(0, 0, 1, "a"), rec(0, 0, 2, "b")], |_| 0);
        assert_eq!(ordered.len(), 2);
        let hosts = hosts_of(&[
            rec(0, 1, 3306, ""),
            rec(0, 1, 3307, "db1"),
            rec(1, 1, 3307, "db1"),
        ]);
        assert_eq!(hosts, vec![HostSpec::new("db1", 3307, Role::Any)]);
    }
}
