//! Connection options: the parsed form of a multi-host connection string ([`LbOpts`], whose
//! docs have the table of options).

mod hook;
mod host;
pub(crate) mod table;
mod tls;
mod url;
mod value;

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;

pub use self::hook::{ConnectHook, ConnectParams, HookError};
pub use self::host::{HostSpec, Role};
#[cfg(feature = "serde")]
use self::table::Shown;
pub use self::tls::{SslMode, TlsOpts};
pub use crate::addr::{DEFAULT_PORT, HostAddr};
use crate::checker::ExceptionChecker;
use crate::error::{UrlError, UrlErrorKind};
use crate::strategy::BalanceStrategy;
pub use crate::strategy::StrategyKind;

/// Every option of the table above: our name, its Connector/J names, and the default as
/// documented, in the table's order. `mysql_async` pass-through parameters are not included.
pub fn option_names() -> Vec<(&'static str, &'static [&'static str], &'static str)> {
    table::OPTIONS
        .iter()
        .map(|d| (d.name, d.aliases, d.default))
        .collect()
}

/// Parses a duration the way our options take it: a number with a unit (`250ms`, `5s`,
/// `1.5s`, `2m`), or `0`. Public so that tools built on the crate (the `mysql-lb` command)
/// read durations exactly as connection strings do.
///
/// ```
/// # use std::time::Duration;
/// assert_eq!(mysql_lb::parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
/// assert!(mysql_lb::parse_duration("5").is_err());
/// ```
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    value::duration(value)
}

/// A host as a server reports one (`host:port`, `[v6]:port`), checked as a URL's host is;
/// `None` for anything else (`AUTO`, no port, port 0, a malformed name).
pub(crate) fn reported_host(item: &str) -> Option<HostAddr> {
    let item = item.trim();
    let (_, port) = item.rsplit_once(':')?;
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) || item.ends_with(']') {
        return None;
    }
    let spec = url::parse_host(item).ok()?;
    (spec.role == Role::Any && spec.addr.port() != 0).then_some(spec.addr)
}

/// What a connection string asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "lowercase")
)]
pub enum Mode {
    /// Spread connections over equal hosts (`mysql://`, `mysql:loadbalance://`).
    LoadBalance,
    /// Use the first host; move on only when it fails (`jdbc:mysql://h1,h2`).
    Failover,
    /// Sources take writes, replicas serve reads (`mysql:replication://`).
    Replication,
    /// The nodes of a Galera cluster: each may take writes, and a monitor keeps nodes that
    /// are not Synced in a Primary component out of rotation (`mysql:galera://`, or
    /// `galera=true` on a load-balancing or failover URL).
    Galera,
}

/// Which Galera nodes take writes (`galera_writers`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "lowercase")
)]
pub enum GaleraWriters {
    /// One node takes every write, the same one in every process (the Synced node with the
    /// lowest `wsrep_local_index`); the others follow it in that order when it fails. No
    /// certification conflicts between nodes, as with ProxySQL's `max_writers=1`.
    #[default]
    Single,
    /// Every Synced node takes writes, picked by the strategy. Conflicting writes on two
    /// nodes make one of them fail at `COMMIT` ([`crate::Error::TransactionRolledBack`]).
    All,
}

impl GaleraWriters {
    /// Reads `single` or `all`.
    pub fn parse(value: &str) -> Result<GaleraWriters, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "single" | "one" | "1" => Ok(GaleraWriters::Single),
            "all" => Ok(GaleraWriters::All),
            _ => Err(format!("`{value}` is not one of: single, all")),
        }
    }

    /// Its name in a URL.
    pub fn name(self) -> &'static str {
        match self {
            GaleraWriters::Single => "single",
            GaleraWriters::All => "all",
        }
    }
}

/// Which strategy picks hosts: one of ours by name, or a user's own.
#[derive(Clone)]
pub enum StrategyChoice {
    /// A built-in strategy.
    Named(StrategyKind),
    /// A user-supplied strategy.
    Custom(Arc<dyn BalanceStrategy>),
}

impl fmt::Debug for StrategyChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StrategyChoice::Named(k) => write!(f, "{}", k.name()),
            StrategyChoice::Custom(_) => f.write_str("custom"),
        }
    }
}

/// Parsed connection options for a set of hosts.
///
/// [`LbOpts`] is built from a URL ([`str::parse`]) or with [`LbOpts::builder`]; both run the
/// same checks. A URL lists hosts separated by commas, then options as query parameters:
///
/// ```text
/// mysql://user:pass@h1:3306,h2:3307,[::1]:3308/db?strategy=bestResponseTime&blacklist_timeout=5s
/// jdbc:mysql:loadbalance://h1,h2/db?user=app&password=secret&loadBalanceBlocklistTimeout=5000
/// jdbc:mysql:replication://address=(host=src)(port=3306)(type=source),(host=r1,port=3306,type=replica)/db
/// ```
///
/// # Schemes
///
/// | scheme | mode | default strategy |
/// |---|---|---|
/// | `mysql://`, `mariadb://` | load balancing | `random` |
/// | `[jdbc:]mysql:loadbalance://`, `[jdbc:]mariadb:loadbalance://` | load balancing | `random` |
/// | `jdbc:mysql://`, `[jdbc:]mysql:failover://`, `[jdbc:]mariadb:failover\|sequential://` | failover: first host first | `sequential` |
/// | `[jdbc:]mysql:replication://`, `[jdbc:]mariadb:replication://` | sources and replicas | `random` |
/// | `[jdbc:]mysql:galera://`, `[jdbc:]mariadb:galera://` | a Galera cluster | `random` |
/// | `mysql+srv://`, `mariadb+srv://`, `[jdbc:]mysql+srv:loadbalance://` | load balancing over DNS SRV records (feature `srv`) | `random` |
/// | `jdbc:mysql+srv://`, `[jdbc:]mysql+srv:failover://` | failover over DNS SRV records, in their order (feature `srv`) | `sequential` |
///
/// A `+srv` URL names one DNS SRV name and no port (`mysql+srv://u:p@_mysql._tcp.example.com/db`),
/// as Connector/J takes it; the records give the hosts, and a pool follows them as they change
/// (`crate::LoadBalancedPool::connect`; `docs/srv.md` has the details).
///
/// A Connector/J or MariaDB Connector/J URL for a Galera cluster (`jdbc:mysql:loadbalance://`,
/// `jdbc:mariadb:sequential://`) becomes a Galera one with `galera=true`; see
/// [`crate::GaleraPool`].
///
/// Hosts: `host`, `host:port` (default port 3306), `[IPv6]:port`,
/// `address=(host=h)(port=p)(type=replica)`, `(host=h,port=p,type=source)`. In a replication
/// URL, hosts without `type` make the first host the source and the rest replicas, as in
/// Connector/J; other URLs refuse `type=source|replica`. `user` and `password` may be given as
/// query parameters instead. The database is one path segment, as the servers take a name: at
/// most 64 characters, no control character (`%00` would cut it short in the handshake), none
/// beyond U+FFFF, no space at the end.
///
/// # Options
///
/// Our names are snake_case; Connector/J's names are accepted where one exists and keep
/// Connector/J's unit (bare milliseconds). Our durations need a unit: `250ms`, `5s`, `2m`.
///
/// | option | Connector/J names | default | meaning |
/// |---|---|---|---|
/// | `strategy` | `ha.loadBalanceStrategy`, `loadBalanceStrategy` | `random` | how a host is picked: `random`, `bestResponseTime`, `roundRobin`, `serverAffinity`, `sequential`, `peakEwma` |
/// | `server_affinity_order` | `serverAffinityOrder` | none | hosts in order of preference, `h1:p1,h2:p2`, for `serverAffinity` |
/// | `blacklist_timeout` | `loadBalanceBlacklistTimeout`, `loadBalanceBlocklistTimeout` | `10s` | how long a failed host stays on the process-wide blacklist; `0` turns it off |
/// | `connect_timeout` | `connectTimeout` | `2s` | bound on TCP connect plus handshake, per host tried |
/// | `socket_timeout` | `socketTimeout` | `5m` | bound on each statement; on expiry the connection is dropped and the host checked; `0` turns it off (see "A hung host" in the README) |
/// | `ping_timeout` | `loadBalancePingTimeout` | `1s` | bound on a validation ping |
/// | `idle_ping_after` | | `1s` | a connection idle longer than this is pinged before reuse |
/// | `validate_on_swap` | `loadBalanceValidateConnectionOnSwapServer` | `false` | ping a connection before moving to it |
/// | `retries_all_down` | `retriesAllDown` | `1` | rounds over all hosts when all fail, with no sleep in between: 1 to 1000 |
/// | `autocommit_threshold` | `loadBalanceAutoCommitStatementThreshold` | `0` (never) | in autocommit, rebalance after this many statements (with `0`, a handle still picks again when a host comes back: see [Fair picks and recovery](#fair-picks-and-recovery)) |
/// | `autocommit_regex` | `loadBalanceAutoCommitStatementRegex` | none | only statements matching it count toward the threshold |
/// | `failover_sqlstates` | `loadBalanceSQLStateFailover` | none | more SQLSTATE prefixes that mean "host is bad" (class `08` always does) |
/// | `failover_codes` | | none | more server error codes that mean "host is bad" |
/// | `retry_reads` | | `true` | retry a failed read once on another host, in autocommit |
/// | `latency_decay` | | `1s` | how fast response-time averages forget (`bestResponseTime`, `peakEwma`): a peak (one slow answer) fades over about this time |
/// | `slow_start` | `slowstart` | `2s` | a host that came back (off the blacklist, added, recovered from slowness) ramps from 10 % to its full share over this time; `0` turns it off |
/// | `read_from_source_when_no_replicas` | `readFromSourceWhenNoReplicas`, `readFromMasterWhenNoSlaves` | `false` | reads go to the source when no replica is up |
/// | `allow_source_down_connections` | `allowSourceDownConnections`, `allowMasterDownConnections` | `false` | a replication pool may start while no source is up |
/// | `allow_replica_down_connections` | `allowReplicaDownConnections`, `allowSlaveDownConnections` | `false` | a replication pool may start while no replica is up |
/// | `max_replication_lag` | | `0` (off) | a replica further behind is left out of reads |
/// | `causal_reads` | | `false` | a read after a write through the same pool goes to a replica that has the write (waiting only when none has it) |
/// | `causal_read_timeout` | | `1s` | how long a causal read waits before going to the source |
/// | `acquire_timeout` | | `5s` | bound on getting a connection from a pool |
/// | `health_check_interval` | | `1s` | how often a replication pool reads each host's `read_only` and lag |
/// | `hedge` | | `true` | a retry-safe read not answered within the hedge delay is sent to another host too; the first answer wins |
/// | `hedge_budget` | | `5` | hedges as a percentage of hedge-eligible statements (plus 10 a second), 0 to 100 |
/// | `hedge_delay_min` | | `5ms` | the hedge delay's floor (the delay is the host's recent p99) |
/// | `hedge_delay_max` | | `80ms` | the hedge delay's cap: what a hung host costs a read, plus one answer |
/// | `role_query` | | `SELECT @@global.read_only OR @@global.innodb_read_only` | the query a replication pool's monitor runs to tell a read-only host (first column true: read-only); `innodb_read_only` is how an Aurora reader shows |
/// | `discover_hosts` | | `false` | a replication or Galera pool adds the hosts its servers report (replicas in the source's `SHOW SLAVE HOSTS`, members in `wsrep_incoming_addresses`) and drops those it found that leave; see [`crate::ReplicationPool`] |
/// | `galera` | | `false` | the hosts are the nodes of a Galera cluster (as the scheme `mysql:galera://` says): a load-balancing or failover URL becomes a Galera one |
/// | `galera_writers` | | `single` | which Galera nodes take writes: `single` (one node, the same in every process) or `all` |
/// | `reject_read_only` | `rejectReadOnly` | `false` | a write refused as read-only (1290, 1792, 1836) blacklists the host and discards the connection, so the next statement goes to a writable host; the caller gets `WriteNotRetried` |
/// | `ssl_mode` | `sslMode`, `useSSL` | `disabled` | `disabled`, `preferred`, `required`, `verify_ca`, `verify_identity` (also MariaDB Connector/J's `disable`, `trust`, `verify-ca`, `verify-full`); see below |
/// | `ssl_ca` | `serverSslCert`, `sslrootcert` | none | CA certificates (PEM file) the server's certificate must chain to; when given, the only ones trusted |
/// | `ssl_cert` | `sslcert` | none | client certificate chain (PEM file), for `REQUIRE X509` accounts (`rustls` feature) |
/// | `ssl_key` | `sslkey` | none | the client certificate's private key (PEM file) |
/// | `ssl_server_name` | | the host's name | the name the server's certificate must have under `verify_identity` |
/// | `srv_refresh` | | `30s` | how often a pool re-reads the SRV records of a `+srv` URL (feature `srv`) |
/// | `dns_servers` | | the system's | DNS servers (`ip:port`, comma-separated) that SRV lookups ask instead of `/etc/resolv.conf`'s |
///
/// `mysql_async`'s own parameters (`pool_min`, `pool_max`, `inactive_connection_ttl`,
/// `conn_ttl`, `abs_conn_ttl`, `abs_conn_ttl_jitter`, `tcp_keepalive`, `tcp_nodelay`,
/// `max_allowed_packet`, `wait_timeout`, `stmt_cache_size`, `reset_connection`,
/// `client_found_rows`, `compression`, `secure_auth`, `enable_cleartext_plugin`,
/// `ttl_check_interval`) are passed on to every host with mysql_async's units. Their numbers
/// are checked when the options are parsed or built: `pool_max` 1 to 100000 and `pool_min` 0
/// to `pool_max` (connections per host); `inactive_connection_ttl`, `conn_ttl`,
/// `abs_conn_ttl`, `abs_conn_ttl_jitter` 0 to 31536000 seconds (a year);
/// `ttl_check_interval` and `wait_timeout` 1 to 31536000 seconds; `tcp_keepalive` 1000 to
/// 32767000 ms; `max_allowed_packet` 1024 to 1073741824 bytes; `stmt_cache_size` 0 to
/// 1048576. Our durations are at most a year.
/// `prefer_socket` is always off (it would route around the host list). mysql_async's own TLS
/// switches (`require_ssl`, `verify_ca`, `verify_identity`, `built_in_roots`) are refused in
/// favour of `ssl_mode`, one option for what they spread over four; Java key stores
/// (`trustCertificateKeyStoreUrl`, `clientCertificateKeyStoreUrl`, `keyStore`) are refused
/// with the command that turns them into PEM files.
///
/// # TLS
///
/// | `ssl_mode` | encrypted | server certificate checked | falls back to plain text |
/// |---|---|---|---|
/// | `disabled` (default) | no | - | - |
/// | `preferred` | if the server offers TLS | no | yes, when the server has no TLS |
/// | `required` | yes | no (with `ssl_ca`: the CA, as `verify_ca`) | never |
/// | `verify_ca` | yes | signed by `ssl_ca` (or the built-in roots) | never |
/// | `verify_identity` | yes | as `verify_ca`, and it names the host | never |
///
/// A host whose certificate is refused, or that offers no TLS when the mode requires it, is
/// that host's failure: it is blacklisted and the next host is tried (another host may be
/// configured right), and the error names the host and what did not match. TLS needs the
/// crate feature `rustls` (a default) or `native-tls`.
#[derive(Clone)]
pub struct LbOpts {
    pub(crate) hosts: Vec<HostSpec>,
    pub(crate) user: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) database: Option<String>,
    pub(crate) mode: Mode,
    pub(crate) strategy: StrategyChoice,
    pub(crate) affinity_order: Vec<HostAddr>,
    pub(crate) blacklist_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) socket_timeout: Option<Duration>,
    pub(crate) ping_timeout: Duration,
    pub(crate) idle_ping_after: Duration,
    pub(crate) validate_on_swap: bool,
    pub(crate) retries_all_down: u32,
    pub(crate) autocommit_threshold: u32,
    pub(crate) autocommit_regex: Option<Regex>,
    pub(crate) failover_sqlstates: Vec<String>,
    pub(crate) failover_codes: Vec<u16>,
    pub(crate) checker: Option<Arc<dyn ExceptionChecker>>,
    pub(crate) retry_reads: bool,
    pub(crate) latency_decay: Duration,
    pub(crate) slow_start: Duration,
    pub(crate) read_from_source_when_no_replicas: bool,
    pub(crate) allow_source_down_connections: bool,
    pub(crate) allow_replica_down_connections: bool,
    pub(crate) max_replication_lag: Option<Duration>,
    pub(crate) causal_reads: bool,
    pub(crate) causal_read_timeout: Duration,
    pub(crate) acquire_timeout: Duration,
    pub(crate) health_check_interval: Duration,
    pub(crate) hedge: bool,
    pub(crate) hedge_budget: u32,
    pub(crate) hedge_delay_min: Duration,
    pub(crate) hedge_delay_max: Duration,
    pub(crate) role_query: Option<String>,
    pub(crate) reject_read_only: bool,
    pub(crate) galera_writers: GaleraWriters,
    pub(crate) discover_hosts: bool,
    pub(crate) tls: TlsOpts,
    pub(crate) connect_hook: Option<ConnectHook>,
    pub(crate) pass_through: Vec<(String, String)>,
    /// The DNS SRV name of a `+srv` URL; `hosts` is then what it resolved to (empty until
    /// resolved).
    pub(crate) srv: Option<String>,
    pub(crate) srv_refresh: Duration,
    pub(crate) dns_servers: Vec<SocketAddr>,
}

/// The role probe's query when `role_query` is not set: `innodb_read_only` is how an Aurora
/// reader shows (its `read_only` is 0), and it implies read-only anywhere.
pub(crate) const DEFAULT_ROLE_QUERY: &str =
    "SELECT @@global.read_only OR @@global.innodb_read_only";

impl Default for LbOpts {
    fn default() -> LbOpts {
        LbOpts {
            hosts: Vec::new(),
            user: None,
            password: None,
            database: None,
            mode: Mode::LoadBalance,
            strategy: StrategyChoice::Named(StrategyKind::Random),
            affinity_order: Vec::new(),
            blacklist_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(2),
            // Bounded, as every network step is: a write on a hung host cannot be hedged and
            // waits this long. Generous, so that long reports and migrations are not cut off
            // (the server would go on with a statement the client gave up on).
            socket_timeout: Some(Duration::from_secs(300)),
            ping_timeout: Duration::from_secs(1),
            idle_ping_after: Duration::from_secs(1),
            validate_on_swap: false,
            retries_all_down: 1,
            autocommit_threshold: 0,
            autocommit_regex: None,
            failover_sqlstates: Vec::new(),
            failover_codes: Vec::new(),
            checker: None,
            retry_reads: true,
            latency_decay: Duration::from_secs(1),
            slow_start: Duration::from_secs(2),
            read_from_source_when_no_replicas: false,
            allow_source_down_connections: false,
            allow_replica_down_connections: false,
            max_replication_lag: None,
            causal_reads: false,
            causal_read_timeout: Duration::from_secs(1),
            acquire_timeout: Duration::from_secs(5),
            health_check_interval: Duration::from_secs(1),
            hedge: true,
            hedge_budget: 5,
            hedge_delay_min: Duration::from_millis(5),
            hedge_delay_max: Duration::from_millis(80),
            role_query: None,
            reject_read_only: false,
            galera_writers: GaleraWriters::Single,
            discover_hosts: false,
            tls: TlsOpts::default(),
            connect_hook: None,
            pass_through: Vec::new(),
            srv: None,
            // Often enough that a server taken out of the records stops getting new
            // connections within half a minute; rare enough that a pool costs its DNS server
            // one query (two with a TCP retry) every 30 s, and a record's TTL (the resolver's
            // cache honours it) usually spares even that.
            srv_refresh: Duration::from_secs(30),
            dns_servers: Vec::new(),
        }
    }
}

impl LbOpts {
    /// A builder, for code that does not start from a string.
    pub fn builder() -> LbOptsBuilder {
        LbOptsBuilder::default()
    }

    /// The hosts, in the order given.
    pub fn hosts(&self) -> &[HostSpec] {
        &self.hosts
    }
    /// The user name, if any.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }
    /// Whether a password is set (the password itself is only handed to the driver).
    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }
    /// The database to use on every host, if any.
    pub fn database(&self) -> Option<&str> {
        self.database.as_deref()
    }
    /// Load balancing, failover, replication or Galera.
    pub fn mode(&self) -> Mode {
        self.mode
    }
    /// The strategy that picks hosts.
    pub fn strategy(&self) -> &StrategyChoice {
        &self.strategy
    }
    /// The preference order for `serverAffinity`.
    pub fn affinity_order(&self) -> &[HostAddr] {
        &self.affinity_order
    }
    /// How long a failed host stays blacklisted (zero: never).
    pub fn blacklist_timeout(&self) -> Duration {
        self.blacklist_timeout
    }
    /// Bound on connect plus handshake.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }
    /// Bound on each statement, if set.
    pub fn socket_timeout(&self) -> Option<Duration> {
        self.socket_timeout
    }
    /// Bound on a ping.
    pub fn ping_timeout(&self) -> Duration {
        self.ping_timeout
    }
    /// Idle time after which a connection is pinged before reuse.
    pub fn idle_ping_after(&self) -> Duration {
        self.idle_ping_after
    }
    /// Whether a connection is pinged before the handle moves to it.
    pub fn validate_on_swap(&self) -> bool {
        self.validate_on_swap
    }
    /// Rounds over all hosts when all fail.
    pub fn retries_all_down(&self) -> u32 {
        self.retries_all_down
    }
    /// Statements in autocommit between rebalances (0: never).
    pub fn autocommit_threshold(&self) -> u32 {
        self.autocommit_threshold
    }
    /// Statements that count toward the threshold, if restricted.
    pub fn autocommit_regex(&self) -> Option<&Regex> {
        self.autocommit_regex.as_ref()
    }
    /// Extra SQLSTATE prefixes that mean the host is bad.
    pub fn failover_sqlstates(&self) -> &[String] {
        &self.failover_sqlstates
    }
    /// Extra server error codes that mean the host is bad.
    pub fn failover_codes(&self) -> &[u16] {
        &self.failover_codes
    }
    /// Whether reads are retried once on another host.
    pub fn retry_reads(&self) -> bool {
        self.retry_reads
    }
    /// Decay time of response-time averages.
    pub fn latency_decay(&self) -> Duration {
        self.latency_decay
    }

    /// How long a host that came back takes to ramp up to its full share.
    pub fn slow_start(&self) -> Duration {
        self.slow_start
    }
    /// Reads go to the source when no replica is up.
    pub fn read_from_source_when_no_replicas(&self) -> bool {
        self.read_from_source_when_no_replicas
    }
    /// A replication pool may start while no source is up.
    pub fn allow_source_down_connections(&self) -> bool {
        self.allow_source_down_connections
    }
    /// A replication pool may start while no replica is up.
    pub fn allow_replica_down_connections(&self) -> bool {
        self.allow_replica_down_connections
    }
    /// Replicas further behind are left out of reads.
    pub fn max_replication_lag(&self) -> Option<Duration> {
        self.max_replication_lag
    }
    /// Whether reads after writes wait for the replica to catch up.
    pub fn causal_reads(&self) -> bool {
        self.causal_reads
    }
    /// How long a causal read waits.
    pub fn causal_read_timeout(&self) -> Duration {
        self.causal_read_timeout
    }
    /// Bound on getting a connection from a pool.
    pub fn acquire_timeout(&self) -> Duration {
        self.acquire_timeout
    }

    /// How often a replication pool checks roles and lag.
    pub fn health_check_interval(&self) -> Duration {
        self.health_check_interval
    }
    /// Whether retry-safe reads are hedged.
    pub fn hedge(&self) -> bool {
        self.hedge
    }
    /// Hedges allowed, as a percentage of hedge-eligible statements.
    pub fn hedge_budget(&self) -> u32 {
        self.hedge_budget
    }
    /// The hedge delay's floor and cap.
    pub fn hedge_delay_bounds(&self) -> (Duration, Duration) {
        (self.hedge_delay_min, self.hedge_delay_max)
    }
    /// The query that tells a read-only host (first column true), for a replication pool's
    /// monitor.
    pub fn role_query(&self) -> &str {
        self.role_query.as_deref().unwrap_or(DEFAULT_ROLE_QUERY)
    }
    /// Whether a write refused as read-only moves the handle off the host.
    pub fn reject_read_only(&self) -> bool {
        self.reject_read_only
    }
    /// Which Galera nodes take writes.
    pub fn galera_writers(&self) -> GaleraWriters {
        self.galera_writers
    }
    /// Whether a replication or Galera pool adds the hosts its servers report.
    pub fn discover_hosts(&self) -> bool {
        self.discover_hosts
    }
    /// The TLS settings.
    pub fn tls(&self) -> &TlsOpts {
        &self.tls
    }
    /// The connect hook, if one is set.
    pub fn connect_hook(&self) -> Option<&ConnectHook> {
        self.connect_hook.as_ref()
    }
    /// `mysql_async` parameters passed on to every host.
    pub fn pass_through(&self) -> &[(String, String)] {
        &self.pass_through
    }
    /// The DNS SRV name of a `+srv` URL (`_mysql._tcp.example.com`), whose records give the
    /// hosts; `None` for a URL that lists hosts.
    pub fn srv_name(&self) -> Option<&str> {
        self.srv.as_deref()
    }
    /// How often a pool re-reads the SRV records.
    pub fn srv_refresh(&self) -> Duration {
        self.srv_refresh
    }
    /// The DNS servers SRV lookups ask; empty: the system's (`/etc/resolv.conf`).
    pub fn dns_servers(&self) -> &[SocketAddr] {
        &self.dns_servers
    }

    /// The hosts that take writes: sources, or every host outside replication mode.
    pub fn sources(&self) -> impl Iterator<Item = &HostSpec> {
        self.hosts.iter().filter(|h| h.role != Role::Replica)
    }

    /// The hosts that serve reads in replication mode.
    pub fn replicas(&self) -> impl Iterator<Item = &HostSpec> {
        self.hosts.iter().filter(|h| h.role == Role::Replica)
    }

    /// These options with the host list replaced (for a pool over one role).
    pub fn with_hosts(&self, hosts: Vec<HostSpec>) -> LbOpts {
        LbOpts {
            hosts,
            ..self.clone()
        }
    }

    /// The `mysql_async` options for one host: credentials, database, pass-through
    /// parameters, TLS (for `preferred` too: its fallback to plain text is the dialer's), and
    /// `prefer_socket(false)` so traffic really goes to `addr`. The connect hook is not run.
    pub fn mysql_opts(&self, addr: &HostAddr) -> mysql_async::OptsBuilder {
        let base = if self.pass_through.is_empty() {
            mysql_async::Opts::default()
        } else {
            let query: String = ::url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(self.pass_through.iter())
                .finish();
            // Checked when the options were built, so this parse cannot fail.
            mysql_async::Opts::from_url(&format!("mysql://127.0.0.1/?{query}")).unwrap_or_default()
        };
        mysql_async::OptsBuilder::from_opts(base)
            .ip_or_hostname(addr.host())
            .tcp_port(addr.port())
            .user(self.user.clone())
            .pass(self.password.clone())
            .db_name(self.database.clone())
            .ssl_opts(self.tls.ssl_opts())
            .prefer_socket(false)
    }

    /// The options as JSON, password left out (what `mysql-lb parse` prints): the host list,
    /// credentials and mode, then every option of the table (`table.rs`) under its name
    /// (durations in milliseconds under `{name}_ms`), then the `mysql_async` parameters.
    #[cfg(feature = "serde")]
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::{Value, json};
        let hosts: Vec<_> = self
            .hosts
            .iter()
            .map(|h| json!({"host": h.addr.host(), "port": h.addr.port(), "role": h.role}))
            .collect();
        let mut out = json!({
            "hosts": hosts,
            "user": self.user,
            "password": self.password.as_ref().map(|_| "***"),
            "database": self.database,
            "mode": self.mode,
            "srv": self.srv,
        });
        let map = out.as_object_mut().expect("an object");
        for def in table::OPTIONS {
            let (key, value) = match (def.show)(self) {
                Shown::Bool(b) => (def.name.to_owned(), json!(b)),
                Shown::Int(n) => (def.name.to_owned(), json!(n)),
                Shown::Ints(v) => (def.name.to_owned(), json!(v)),
                Shown::Text(t) => (def.name.to_owned(), json!(t)),
                Shown::List(v) => (def.name.to_owned(), json!(v)),
                Shown::Ms(d) => (
                    format!("{}_ms", def.name),
                    d.map_or(Value::Null, |d| json!(d.as_millis() as u64)),
                ),
            };
            map.insert(key, value);
        }
        map.insert(
            "pass_through".into(),
            json!(
                self.pass_through
                    .iter()
                    .cloned()
                    .collect::<std::collections::BTreeMap<_, _>>()
            ),
        );
        out
    }
}

impl fmt::Debug for LbOpts {
    /// Every option of the table under its name, the password never.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("LbOpts");
        d.field("hosts", &self.hosts)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("database", &self.database)
            .field("mode", &self.mode)
            .field("srv", &self.srv);
        for def in table::OPTIONS {
            d.field(def.name, &(def.show)(self));
        }
        d.field("connect_hook", &self.connect_hook.is_some())
            .field("pass_through", &self.pass_through)
            .finish()
    }
}

impl FromStr for LbOpts {
    type Err = UrlError;

    fn from_str(s: &str) -> Result<LbOpts, UrlError> {
        url::parse(s)
    }
}

/// Builds [`LbOpts`] in code. `build` runs the same checks as parsing a URL.
#[derive(Default)]
pub struct LbOptsBuilder {
    opts: LbOpts,
    mode_set: bool,
    strategy_set: bool,
    /// `galera=true|false`, resolved against the scheme's mode by `build`.
    galera: Option<bool>,
    pub(crate) affinity_order_raw: Vec<String>,
    /// The first bad host given to `host`/`host_with_role`, reported by `build`.
    host_error: Option<UrlError>,
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty => |$o:ident, $v:ident| $body:expr;)*) => {
        $(
            $(#[$doc])*
            pub fn $name(&mut self, $v: $ty) -> &mut Self {
                let $o = &mut self.opts;
                $body;
                self
            }
        )*
    };
}

impl LbOptsBuilder {
    /// Adds a host with no particular role: a host name, an IPv4 address, or an IPv6 address
    /// with or without brackets. A bad host or port is reported by [`build`](Self::build),
    /// as the URL parser reports it.
    pub fn host(&mut self, host: impl Into<String>, port: u16) -> &mut Self {
        self.host_with_role(host, port, Role::Any)
    }

    /// Adds a host with a role (for replication). Checked as [`host`](Self::host) is.
    pub fn host_with_role(&mut self, host: impl Into<String>, port: u16, role: Role) -> &mut Self {
        let host: String = host.into();
        let item = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        match url::check_host(&item, &host).and_then(|()| url::check_port(&item, port)) {
            Ok(_) => self.opts.hosts.push(HostSpec::new(host, port, role)),
            Err(e) => {
                self.host_error.get_or_insert(e);
            }
        }
        self
    }

    /// Sets the mode (load balancing by default).
    pub fn mode(&mut self, mode: Mode) -> &mut Self {
        self.opts.mode = mode;
        self.mode_set = true;
        self
    }

    /// Says the hosts are the nodes of a Galera cluster (`true`): a load-balancing or failover
    /// mode becomes [`Mode::Galera`] when built; a replication mode is refused.
    pub fn galera(&mut self, on: bool) -> &mut Self {
        self.galera = Some(on);
        self
    }

    /// Picks a built-in strategy.
    pub fn strategy(&mut self, kind: StrategyKind) -> &mut Self {
        self.opts.strategy = StrategyChoice::Named(kind);
        self.strategy_set = true;
        self
    }

    /// Plugs in a strategy of your own.
    pub fn custom_strategy(&mut self, strategy: Arc<dyn BalanceStrategy>) -> &mut Self {
        self.opts.strategy = StrategyChoice::Custom(strategy);
        self.strategy_set = true;
        self
    }

    /// Replaces the standard exception checker (wrap [`crate::StandardChecker`] to extend it).
    pub fn exception_checker(&mut self, checker: Arc<dyn ExceptionChecker>) -> &mut Self {
        self.opts.checker = Some(checker);
        self
    }

    /// Preference order for `serverAffinity`: hosts as `host:port`.
    pub fn server_affinity_order<S: Into<String>>(
        &mut self,
        order: impl IntoIterator<Item = S>,
    ) -> &mut Self {
        self.affinity_order_raw = order.into_iter().map(Into::into).collect();
        self
    }

    /// Runs `hook` before every new physical connection, with the parameters about to be used
    /// for that host; it returns them, changed or not (a fresh IAM token as the password, a
    /// rotated client certificate, init statements). Bounded by `connect_timeout`; its errors
    /// are not held against the host. See [`ConnectParams`].
    ///
    /// ```
    /// # use std::sync::{Arc, Mutex};
    /// let secret = Arc::new(Mutex::new(String::from("first")));
    /// let current = secret.clone();
    /// let mut b = mysql_lb::LbOpts::builder();
    /// b.host("db1", 3306).user("app").before_connect(move |mut p| {
    ///     let password = current.lock().unwrap().clone();
    ///     async move {
    ///         p.set_password(password);
    ///         Ok(p)
    ///     }
    /// });
    /// ```
    pub fn before_connect<F, Fut>(&mut self, hook: F) -> &mut Self
    where
        F: Fn(ConnectParams) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<ConnectParams, HookError>> + Send + 'static,
    {
        self.opts.connect_hook = Some(ConnectHook::new(hook));
        self
    }

    /// The TLS settings, to change in place (`b.tls_mut().set_mode(SslMode::VerifyIdentity)`).
    pub fn tls_mut(&mut self) -> &mut TlsOpts {
        &mut self.opts.tls
    }

    /// Takes the hosts from the DNS SRV records of `name` (`_mysql._tcp.example.com`) instead
    /// of a host list, as a `mysql+srv://` URL does: then no host may be added. Needs the
    /// crate feature `srv`; [`build`](Self::build) says so without it.
    pub fn srv(&mut self, name: impl Into<String>) -> &mut Self {
        self.opts.srv = Some(name.into());
        self
    }

    /// The DNS servers (`ip:port`) SRV lookups ask instead of the system's.
    pub fn dns_servers(&mut self, servers: impl IntoIterator<Item = SocketAddr>) -> &mut Self {
        self.opts.dns_servers = servers.into_iter().collect();
        self
    }

    /// Passes a `mysql_async` URL parameter on to every host.
    pub fn pass_through(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.opts.pass_through.push((name.into(), value.into()));
        self
    }

    setters! {
        /// The user name.
        user: impl Into<String> => |o, v| o.user = Some(v.into());
        /// The password.
        password: impl Into<String> => |o, v| o.password = Some(v.into());
        /// The database to use on every host.
        database: impl Into<String> => |o, v| o.database = Some(v.into());
        /// How long a failed host stays blacklisted (zero: never blacklist).
        blacklist_timeout: Duration => |o, v| o.blacklist_timeout = v;
        /// Bound on connect plus handshake.
        connect_timeout: Duration => |o, v| o.connect_timeout = v;
        /// Bound on each statement (zero: off).
        socket_timeout: Duration => |o, v| o.socket_timeout = (!v.is_zero()).then_some(v);
        /// Bound on a ping.
        ping_timeout: Duration => |o, v| o.ping_timeout = v;
        /// Idle time after which a connection is pinged before reuse.
        idle_ping_after: Duration => |o, v| o.idle_ping_after = v;
        /// Ping a connection before moving to it.
        validate_on_swap: bool => |o, v| o.validate_on_swap = v;
        /// Rounds over all hosts when all fail: 1 to 1000 (`build` refuses others).
        retries_all_down: u32 => |o, v| o.retries_all_down = v;
        /// Rebalance after this many autocommit statements (0: never).
        autocommit_threshold: u32 => |o, v| o.autocommit_threshold = v;
        /// Only statements matching this count toward the threshold.
        autocommit_regex: Regex => |o, v| o.autocommit_regex = Some(v);
        /// More SQLSTATE prefixes that mean the host is bad.
        failover_sqlstates: Vec<String> => |o, v| o.failover_sqlstates = v;
        /// More server error codes that mean the host is bad.
        failover_codes: Vec<u16> => |o, v| o.failover_codes = v;
        /// Retry a failed read once on another host.
        retry_reads: bool => |o, v| o.retry_reads = v;
        /// Decay time of response-time averages.
        latency_decay: Duration => |o, v| o.latency_decay = v;
        /// How long a host that came back takes to ramp up to its full share.
        slow_start: Duration => |o, v| o.slow_start = v;
        /// Reads go to the source when no replica is up.
        read_from_source_when_no_replicas: bool => |o, v| o.read_from_source_when_no_replicas = v;
        /// A replication pool may start while no source is up.
        allow_source_down_connections: bool => |o, v| o.allow_source_down_connections = v;
        /// A replication pool may start while no replica is up.
        allow_replica_down_connections: bool => |o, v| o.allow_replica_down_connections = v;
        /// Replicas further behind are left out of reads (zero: off).
        max_replication_lag: Duration => |o, v| o.max_replication_lag = (!v.is_zero()).then_some(v);
        /// Reads after writes wait until the replica has the write.
        causal_reads: bool => |o, v| o.causal_reads = v;
        /// How long a causal read waits before going to the source.
        causal_read_timeout: Duration => |o, v| o.causal_read_timeout = v;
        /// Bound on getting a connection from a pool.
        acquire_timeout: Duration => |o, v| o.acquire_timeout = v;
        /// How often a replication pool checks roles and lag.
        health_check_interval: Duration => |o, v| o.health_check_interval = v;
        /// Hedge retry-safe reads (on by default).
        hedge: bool => |o, v| o.hedge = v;
        /// Hedges allowed, as a percentage of hedge-eligible statements: 0 to 100 (`build`
        /// refuses more).
        hedge_budget: u32 => |o, v| o.hedge_budget = v;
        /// The hedge delay's floor.
        hedge_delay_min: Duration => |o, v| o.hedge_delay_min = v;
        /// The hedge delay's cap.
        hedge_delay_max: Duration => |o, v| o.hedge_delay_max = v;
        /// The query that tells a read-only host (first column true).
        role_query: impl Into<String> => |o, v| o.role_query = Some(v.into());
        /// A write refused as read-only moves the handle off the host.
        reject_read_only: bool => |o, v| o.reject_read_only = v;
        /// Which Galera nodes take writes.
        galera_writers: GaleraWriters => |o, v| o.galera_writers = v;
        /// A replication or Galera pool adds the hosts its servers report.
        discover_hosts: bool => |o, v| o.discover_hosts = v;
        /// How much TLS connections must have.
        ssl_mode: SslMode => |o, v| o.tls.set_mode(v);
        /// The CA file (PEM) the server's certificate must chain to.
        ssl_ca: impl Into<std::path::PathBuf> => |o, v| o.tls.set_ca(v);
        /// The name the server's certificate must have under `verify_identity`.
        ssl_server_name: impl Into<String> => |o, v| o.tls.set_server_name(v);
        /// How often a pool re-reads the SRV records of a `+srv` URL.
        srv_refresh: Duration => |o, v| o.srv_refresh = v;
    }

    /// The client certificate chain and key (PEM files), for `REQUIRE X509` accounts.
    pub fn ssl_client_cert(
        &mut self,
        cert: impl Into<std::path::PathBuf>,
        key: impl Into<std::path::PathBuf>,
    ) -> &mut Self {
        self.opts.tls.set_client_cert(cert, key);
        self
    }

    /// Checks everything and returns the options.
    pub fn build(&mut self) -> Result<LbOpts, UrlError> {
        if let Some(e) = &self.host_error {
            return Err(e.clone());
        }
        let mut opts = self.opts.clone();
        check_srv(&opts)?;
        if opts.hosts.is_empty() && opts.srv.is_none() {
            return Err(UrlError::new(
                UrlErrorKind::EmptyHostList,
                "",
                "no host given: list at least one host, e.g. mysql://user@db1:3306,db2:3306/app",
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for h in &opts.hosts {
            if !seen.insert(&h.addr) {
                return Err(UrlError::new(
                    UrlErrorKind::DuplicateHost,
                    h.addr.to_string(),
                    "host listed twice (hosts are told apart by name and port)",
                ));
            }
        }
        if !self.strategy_set && opts.mode == Mode::Failover {
            opts.strategy = StrategyChoice::Named(StrategyKind::Sequential);
        }
        opts.mode = self.galera_mode(opts.mode)?;
        if opts.discover_hosts && !matches!(opts.mode, Mode::Replication | Mode::Galera) {
            return Err(UrlError::new(
                UrlErrorKind::Conflict,
                "discover_hosts",
                "discover_hosts needs a replication or Galera URL (mysql:replication://, \
                 mysql:galera://): their pools' monitor is what asks the servers",
            ));
        }
        check_srv_mode(&opts)?;
        if opts.srv.is_some() && !self.affinity_order_raw.is_empty() {
            return Err(UrlError::new(
                UrlErrorKind::Conflict,
                "server_affinity_order",
                "server_affinity_order names hosts, and a +srv URL's hosts come from DNS",
            ));
        }
        if opts.mode == Mode::Galera {
            // Replica settings that a Galera node has no use for: said, not ignored.
            let refused = [
                (
                    opts.causal_reads,
                    "causal_reads",
                    "every node in rotation is Synced; for reads that must see the cluster's latest commits set the session variable wsrep_sync_wait=1",
                ),
                (
                    opts.max_replication_lag.is_some(),
                    "max_replication_lag",
                    "a Galera node does not lag behind a source: it is Synced and in rotation, or out",
                ),
            ];
            if let Some((_, name, why)) = refused.into_iter().find(|(set, _, _)| *set) {
                return Err(UrlError::new(
                    UrlErrorKind::Conflict,
                    name,
                    format!("{name} applies to replication, not to a Galera cluster: {why}"),
                ));
            }
        }
        self.check_roles(&mut opts)?;
        opts.affinity_order = self.resolve_affinity(&opts)?;
        if matches!(
            opts.strategy,
            StrategyChoice::Named(StrategyKind::ServerAffinity)
        ) && opts.affinity_order.is_empty()
        {
            return Err(UrlError::new(
                UrlErrorKind::Conflict,
                "strategy=serverAffinity",
                "serverAffinity needs server_affinity_order (serverAffinityOrder=h1:p1,h2:p2)",
            ));
        }
        if opts.autocommit_regex.is_some() && opts.autocommit_threshold == 0 {
            return Err(UrlError::new(
                UrlErrorKind::Conflict,
                "autocommit_regex",
                "autocommit_regex has no effect without autocommit_threshold > 0",
            ));
        }
        check_durations(&opts)?;
        if opts.hedge_budget > 100 {
            return Err(UrlError::new(
                UrlErrorKind::BadValue,
                format!("hedge_budget={}", opts.hedge_budget),
                "bad value for hedge_budget: a percentage, 0 to 100",
            ));
        }
        if opts.hedge_delay_min > opts.hedge_delay_max {
            return Err(UrlError::new(
                UrlErrorKind::Conflict,
                "hedge_delay_min",
                format!(
                    "hedge_delay_min ({:?}) is above hedge_delay_max ({:?})",
                    opts.hedge_delay_min, opts.hedge_delay_max
                ),
            ));
        }
        if let Some((name, why)) = opts.tls.problem() {
            return Err(UrlError::new(UrlErrorKind::BadValue, name, why));
        }
        if opts
            .role_query
            .as_deref()
            .is_some_and(|q| q.trim().is_empty())
        {
            return Err(UrlError::new(
                UrlErrorKind::BadValue,
                "role_query",
                "role_query is empty: give a query whose first column is true on a read-only host",
            ));
        }
        value::in_range(opts.retries_all_down.into(), 1, table::RETRIES_MAX).map_err(|why| {
            UrlError::new(
                UrlErrorKind::BadValue,
                format!("retries_all_down={}", opts.retries_all_down),
                format!("bad value for retries_all_down: {why}"),
            )
        })?;
        if let Some(db) = &opts.database {
            url::check_database(&db.escape_debug().to_string(), db)?;
        }
        let mut names = std::collections::HashSet::new();
        for (name, value) in &opts.pass_through {
            if !names.insert(name.as_str()) {
                return Err(UrlError::new(
                    UrlErrorKind::Conflict,
                    name.clone(),
                    format!("{name} given twice"),
                ));
            }
            table::check_pass_through(name, value)?;
        }
        opts.pass_through
            .retain(|(n, v)| !(n == "prefer_socket" || table::harmless_tls_off(n, v)));
        table::default_pool_min(&mut opts.pass_through);
        // Each one may be fine alone and the set not (pool_min above pool_max); `mysql_opts`
        // relies on the set being accepted.
        table::check_pass_through_together(&opts.pass_through)?;
        Ok(opts)
    }

    /// The mode once `galera=` is taken into account.
    fn galera_mode(&self, mode: Mode) -> Result<Mode, UrlError> {
        match (self.galera, mode) {
            (None, mode)
            | (Some(false), mode @ (Mode::LoadBalance | Mode::Failover | Mode::Replication)) => {
                Ok(mode)
            }
            (Some(true), Mode::Replication) => Err(UrlError::new(
                UrlErrorKind::Conflict,
                "galera=true",
                "a replication URL (sources and replicas) cannot be a Galera one: use \
                 mysql:galera:// or a load-balancing URL with galera=true",
            )),
            (Some(true), _) => Ok(Mode::Galera),
            (Some(false), Mode::Galera) => Err(UrlError::new(
                UrlErrorKind::Conflict,
                "galera=false",
                "galera=false contradicts the scheme mysql:galera://",
            )),
        }
    }

    fn check_roles(&self, opts: &mut LbOpts) -> Result<(), UrlError> {
        let any_role = opts.hosts.iter().any(|h| h.role != Role::Any);
        if opts.mode != Mode::Replication {
            // A typed host would be left out of `sources()` in a mode that has no replicas.
            if let Some(h) = opts.hosts.iter().find(|h| h.role != Role::Any) {
                return Err(UrlError::new(
                    UrlErrorKind::Conflict,
                    h.addr.to_string(),
                    format!(
                        "type={} has a meaning only in a replication URL \
                         (mysql:replication://…); remove it or change the scheme",
                        h.role
                    ),
                ));
            }
            return Ok(());
        }
        if !any_role {
            // Connector/J: the first host is the source, the rest are replicas.
            for (i, h) in opts.hosts.iter_mut().enumerate() {
                h.role = if i == 0 { Role::Source } else { Role::Replica };
            }
        } else if let Some(h) = opts.hosts.iter().find(|h| h.role == Role::Any) {
            return Err(UrlError::new(
                UrlErrorKind::Conflict,
                h.addr.to_string(),
                "in a replication URL either every host has type=source|replica or none has",
            ));
        }
        if !opts.hosts.iter().any(|h| h.role == Role::Source) {
            return Err(UrlError::new(
                UrlErrorKind::Conflict,
                "type=replica",
                "a replication URL needs at least one host with type=source",
            ));
        }
        Ok(())
    }

    fn resolve_affinity(&self, opts: &LbOpts) -> Result<Vec<HostAddr>, UrlError> {
        self.affinity_order_raw
            .iter()
            .map(|item| {
                let spec = url::parse_host(item)?;
                if !opts.hosts.iter().any(|h| h.addr == spec.addr) {
                    return Err(UrlError::new(
                        UrlErrorKind::Conflict,
                        item.clone(),
                        "server_affinity_order names a host that is not in the host list",
                    ));
                }
                Ok(spec.addr)
            })
            .collect()
    }
}

/// What a `+srv` URL (or [`LbOptsBuilder::srv`]) may come with, and the SRV-only options
/// without one. Connector/J's rules (one SRV name, no port, no `address=(…)`) are the URL
/// parser's; these hold for the builder too.
fn check_srv(opts: &LbOpts) -> Result<(), UrlError> {
    let Some(name) = &opts.srv else {
        if !opts.dns_servers.is_empty() {
            return Err(UrlError::new(
                UrlErrorKind::Conflict,
                "dns_servers",
                "dns_servers applies to a +srv URL (mysql+srv://…), whose hosts come from DNS",
            ));
        }
        if opts.srv_refresh != LbOpts::default().srv_refresh {
            return Err(UrlError::new(
                UrlErrorKind::Conflict,
                "srv_refresh",
                "srv_refresh applies to a +srv URL (mysql+srv://…), whose hosts come from DNS",
            ));
        }
        return Ok(());
    };
    if !cfg!(feature = "srv") {
        return Err(srv_feature_off(name));
    }
    url::check_srv_name(name, name)?;
    if let Some(h) = opts.hosts.first() {
        return Err(UrlError::new(
            UrlErrorKind::Conflict,
            h.addr.to_string(),
            "hosts come from the SRV records of a +srv URL: list none besides the SRV name",
        ));
    }
    Ok(())
}

/// A `+srv` URL's mode, once `galera=` is applied: replication and Galera need pools whose
/// host list does not follow DNS yet, so they are refused rather than resolved once and
/// left to go stale.
fn check_srv_mode(opts: &LbOpts) -> Result<(), UrlError> {
    if opts.srv.is_none() {
        return Ok(());
    }
    let why = match opts.mode {
        Mode::LoadBalance | Mode::Failover => None,
        Mode::Replication => Some((
            "mysql+srv:replication",
            "replication over DNS SRV is not supported yet (Connector/J takes two SRV names, \
             one for sources and one for replicas): list the hosts with mysql:replication://",
        )),
        Mode::Galera => Some((
            "galera",
            "a Galera cluster over DNS SRV is not supported yet: list the nodes with \
             mysql:galera://",
        )),
    };
    match why {
        Some((part, why)) => Err(UrlError::new(UrlErrorKind::Unsupported, part, why)),
        None => Ok(()),
    }
}

/// The error for a `+srv` URL in a build without the feature.
pub(crate) fn srv_feature_off(part: &str) -> UrlError {
    UrlError::new(
        UrlErrorKind::Unsupported,
        part,
        "DNS SRV lookup needs the crate feature `srv` (mysql_lb = { features = [\"srv\"] }); \
         or list the hosts instead",
    )
}

/// Every duration, however it was set: at most a year (`Instant + timeout` must not
/// overflow), and more than zero where zero would mean "unbounded" or divide by zero.
fn check_durations(opts: &LbOpts) -> Result<(), UrlError> {
    let durations = [
        ("blacklist_timeout", opts.blacklist_timeout, None),
        (
            "connect_timeout",
            opts.connect_timeout,
            Some("every connect is bounded"),
        ),
        (
            "socket_timeout",
            opts.socket_timeout.unwrap_or_default(),
            None,
        ),
        (
            "ping_timeout",
            opts.ping_timeout,
            Some("every ping is bounded"),
        ),
        ("idle_ping_after", opts.idle_ping_after, None),
        (
            "latency_decay",
            opts.latency_decay,
            Some("averages need a time to decay over"),
        ),
        (
            "max_replication_lag",
            opts.max_replication_lag.unwrap_or_default(),
            None,
        ),
        ("causal_read_timeout", opts.causal_read_timeout, None),
        ("acquire_timeout", opts.acquire_timeout, None),
        ("health_check_interval", opts.health_check_interval, None),
        ("hedge_delay_min", opts.hedge_delay_min, None),
        ("hedge_delay_max", opts.hedge_delay_max, None),
        (
            "srv_refresh",
            opts.srv_refresh,
            Some("it is the pause between two lookups"),
        ),
    ];
    for (name, d, nonzero) in durations {
        value::capped(d).map_err(|why| {
            UrlError::new(
                UrlErrorKind::BadValue,
                format!("{name}={d:?}"),
                format!("bad value for {name}: {why}"),
            )
        })?;
        if let Some(why) = nonzero
            && d.is_zero()
        {
            return Err(UrlError::new(
                UrlErrorKind::BadValue,
                format!("{name}=0"),
                format!("{name} must be more than 0: {why}"),
            ));
        }
    }
    Ok(())
}
