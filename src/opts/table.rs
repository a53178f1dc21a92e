//! The table of options: every name the query string accepts, its Connector/J aliases, its
//! default, and how its value is read. The rustdoc table in `opts/mod.rs` and the README are
//! checked against this list by a test, so the three cannot drift apart.

use super::value;
use super::{LbOpts, LbOptsBuilder, SslMode, StrategyKind};
use crate::error::{UrlError, UrlErrorKind};

/// How a value's bare numbers are read.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Units {
    /// Our own names: durations need a unit.
    Ours,
    /// Connector/J names: bare numbers are milliseconds.
    ConnectorJ,
}

type Apply = fn(&mut LbOptsBuilder, &str, Units) -> Result<(), String>;

/// One option.
pub(crate) struct OptionDef {
    /// Our snake_case name.
    pub name: &'static str,
    /// Connector/J (and MariaDB Connector/J) names for the same thing.
    pub aliases: &'static [&'static str],
    /// The default, as documented.
    pub default: &'static str,
    apply: Apply,
    /// Its value in a set of options (the JSON view and anything else that lists options).
    pub show: fn(&LbOpts) -> Shown,
}

/// An option's value, for showing.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Shown {
    Bool(bool),
    Int(u64),
    Ints(Vec<u64>),
    /// A duration, shown in milliseconds under `{name}_ms`; `None` when off.
    Ms(Option<std::time::Duration>),
    Text(Option<String>),
    List(Vec<String>),
}

fn dur(v: &str, u: Units) -> Result<std::time::Duration, String> {
    match u {
        Units::Ours => value::duration(v),
        Units::ConnectorJ => value::millis(v),
    }
}

/// A file path (a PEM file); whether it can be read is checked when the options are built.
fn path(v: &str) -> Result<std::path::PathBuf, String> {
    if v.trim().is_empty() {
        return Err("expected the path of a PEM file".to_owned());
    }
    Ok(std::path::PathBuf::from(v))
}

/// For timeouts that must be bounded (the builder checks again, for code that sets them).
fn nonzero(d: std::time::Duration) -> Result<std::time::Duration, String> {
    if d.is_zero() {
        return Err("must be more than 0: it is always bounded".to_owned());
    }
    Ok(d)
}

/// Every option, in the order of the documented table.
pub(crate) static OPTIONS: &[OptionDef] = &[
    OptionDef {
        name: "strategy",
        aliases: &["ha.loadBalanceStrategy", "loadBalanceStrategy"],
        default: "random (sequential for jdbc:mysql:// failover URLs)",
        show: |o| Shown::Text(Some(format!("{:?}", o.strategy))),
        apply: |b, v, _| {
            b.strategy(StrategyKind::parse(v)?);
            Ok(())
        },
    },
    OptionDef {
        name: "server_affinity_order",
        aliases: &["serverAffinityOrder"],
        default: "none",
        show: |o| Shown::List(o.affinity_order.iter().map(|a| a.to_string()).collect()),
        apply: |b, v, _| {
            b.affinity_order_raw = value::list(v);
            Ok(())
        },
    },
    OptionDef {
        name: "blacklist_timeout",
        aliases: &["loadBalanceBlacklistTimeout", "loadBalanceBlocklistTimeout"],
        default: "10s",
        show: |o| Shown::Ms(Some(o.blacklist_timeout)),
        apply: |b, v, u| {
            b.blacklist_timeout(dur(v, u)?);
            Ok(())
        },
    },
    OptionDef {
        name: "connect_timeout",
        aliases: &["connectTimeout"],
        default: "2s",
        show: |o| Shown::Ms(Some(o.connect_timeout)),
        apply: |b, v, u| {
            b.connect_timeout(nonzero(dur(v, u)?)?);
            Ok(())
        },
    },
    OptionDef {
        name: "socket_timeout",
        aliases: &["socketTimeout"],
        default: "5m",
        show: |o| Shown::Ms(o.socket_timeout),
        apply: |b, v, u| {
            b.socket_timeout(dur(v, u)?);
            Ok(())
        },
    },
    OptionDef {
        name: "ping_timeout",
        aliases: &["loadBalancePingTimeout"],
        default: "1s",
        show: |o| Shown::Ms(Some(o.ping_timeout)),
        apply: |b, v, u| {
            b.ping_timeout(nonzero(dur(v, u)?)?);
            Ok(())
        },
    },
    OptionDef {
        name: "idle_ping_after",
        aliases: &[],
        default: "1s",
        show: |o| Shown::Ms(Some(o.idle_ping_after)),
        apply: |b, v, u| {
            b.idle_ping_after(dur(v, u)?);
            Ok(())
        },
    },
    OptionDef {
        name: "validate_on_swap",
        aliases: &["loadBalanceValidateConnectionOnSwapServer"],
        default: "false",
        show: |o| Shown::Bool(o.validate_on_swap),
        apply: |b, v, _| {
            b.validate_on_swap(value::boolean(v)?);
            Ok(())
        },
    },
    OptionDef {
        name: "retries_all_down",
        aliases: &["retriesAllDown"],
        default: "1",
        show: |o| Shown::Int(o.retries_all_down.into()),
        apply: |b, v, _| {
            b.retries_all_down(value::count(v, 1, RETRIES_MAX)? as u32);
            Ok(())
        },
    },
    OptionDef {
        name: "autocommit_threshold",
        aliases: &["loadBalanceAutoCommitStatementThreshold"],
        default: "0 (never)",
        show: |o| Shown::Int(o.autocommit_threshold.into()),
        apply: |b, v, _| {
            b.autocommit_threshold(value::count(v, 0, u32::MAX as u64)? as u32);
            Ok(())
        },
    },
    OptionDef {
        name: "autocommit_regex",
        aliases: &["loadBalanceAutoCommitStatementRegex"],
        default: "none (every statement counts)",
        show: |o| Shown::Text(o.autocommit_regex.as_ref().map(|r| r.as_str().to_owned())),
        apply: |b, v, _| {
            let re = regex::Regex::new(v).map_err(|e| format!("not a valid regex: {e}"))?;
            b.autocommit_regex(re);
            Ok(())
        },
    },
    OptionDef {
        name: "failover_sqlstates",
        aliases: &["loadBalanceSQLStateFailover"],
        default: "none (class 08 always counts)",
        show: |o| Shown::List(o.failover_sqlstates.clone()),
        apply: |b, v, _| {
            for s in value::list(v) {
                if s.len() > 5 || !s.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(format!(
                        "`{s}` is not a SQLSTATE prefix (up to 5 letters or digits)"
                    ));
                }
            }
            b.failover_sqlstates(value::list(v));
            Ok(())
        },
    },
    OptionDef {
        name: "failover_codes",
        aliases: &[],
        default: "none",
        show: |o| Shown::Ints(o.failover_codes.iter().map(|&c| c.into()).collect()),
        apply: |b, v, _| {
            let codes = value::list(v)
                .iter()
                .map(|c| {
                    c.parse::<u16>()
                        .map_err(|_| format!("`{c}` is not an error code"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            b.failover_codes(codes);
            Ok(())
        },
    },
    OptionDef {
        name: "retry_reads",
        aliases: &[],
        default: "true",
        show: |o| Shown::Bool(o.retry_reads),
        apply: |b, v, _| {
            b.retry_reads(value::boolean(v)?);
            Ok(())
        },
    },
    OptionDef {
        name: "latency_decay",
        aliases: &[],
        default: "1s",
        show: |o| Shown::Ms(Some(o.latency_decay)),
        apply: |b, v, u| {
            let d = dur(v, u)?;
            if d.is_zero() {
                return Err("must be more than 0".to_owned());
            }
            b.latency_decay(d);
            Ok(())
        },
    },
    OptionDef {
        name: "slow_start",
        aliases: &["slowstart"],
        default: "2s",
        show: |o| Shown::Ms(Some(o.slow_start)),
        apply: |b, v, u| {
            b.slow_start(dur(v, u)?);
            Ok(())
        },
    },
    OptionDef {
        name: "read_from_source_when_no_replicas",
        aliases: &["readFromSourceWhenNoReplicas", "readFromMasterWhenNoSlaves"],
        default: "false",
        show: |o| Shown::Bool(o.read_from_source_when_no_replicas),
        apply: |b, v, _| {
            b.read_from_source_when_no_replicas(value::boolean(v)?);
            Ok(())
        },
    },
    OptionDef {
        name: "allow_source_down_connections",
        aliases: &["allowSourceDownConnections", "allowMasterDownConnections"],
        default: "false",
        show: |o| Shown::Bool(o.allow_source_down_connections),
        apply: |b, v, _| {
            b.allow_source_down_connections(value::boolean(v)?);
            Ok(())
        },
    },
    OptionDef {
        name: "allow_replica_down_connections",
        aliases: &["allowReplicaDownConnections", "allowSlaveDownConnections"],
        default: "false",
        show: |o| Shown::Bool(o.allow_replica_down_connections),
        apply: |b, v, _| {
            b.allow_replica_down_connections(value::boolean(v)?);
            Ok(())
        },
    },
    OptionDef {
        name: "max_replication_lag",
        aliases: &[],
        default: "0 (off)",
        show: |o| Shown::Ms(o.max_replication_lag),
        apply: |b, v, u| {
            b.max_replication_lag(dur(v, u)?);
            Ok(())
        },
    },
    OptionDef {
        name: "causal_reads",
        aliases: &[],
        default: "false",
        show: |o| Shown::Bool(o.causal_reads),
        apply: |b, v, _| {
            b.causal_reads(value::boolean(v)?);
            Ok(())
        },
    },
    OptionDef {
        name: "causal_read_timeout",
        aliases: &[],
        default: "1s",
        show: |o| Shown::Ms(Some(o.causal_read_timeout)),
        apply: |b, v, u| {
            b.causal_read_timeout(dur(v, u)?);
            Ok(())
        },
    },
    OptionDef {
        name: "acquire_timeout",
        aliases: &[],
        default: "5s",
        show: |o| Shown::Ms(Some(o.acquire_timeout)),
        apply: |b, v, u| {
            b.acquire_timeout(dur(v, u)?);
            Ok(())
        },
    },
    OptionDef {
        name: "health_check_interval",
        aliases: &[],
        default: "1s",
        show: |o| Shown::Ms(Some(o.health_check_interval)),
        apply: |b, v, u| {
            b.health_check_interval(dur(v, u)?);
            Ok(())
        },
    },
    OptionDef {
        name: "hedge",
        aliases: &[],
        default: "true",
        show: |o| Shown::Bool(o.hedge),
        apply: |b, v, _| {
            b.hedge(value::boolean(v)?);
            Ok(())
        },
    },
    OptionDef {
        name: "hedge_budget",
        aliases: &[],
        default: "5",
        show: |o| Shown::Int(o.hedge_budget.into()),
        apply: |b, v, _| {
            b.hedge_budget(value::count(v, 0, 100)? as u32);
            Ok(())
        },
    },
    OptionDef {
        name: "hedge_delay_min",
        aliases: &[],
        default: "5ms",
        show: |o| Shown::Ms(Some(o.hedge_delay_min)),
        apply: |b, v, u| {
            b.hedge_delay_min(dur(v, u)?);
            Ok(())
        },
    },
    OptionDef {
        name: "hedge_delay_max",
        aliases: &[],
        default: "80ms",
        show: |o| Shown::Ms(Some(o.hedge_delay_max)),
        apply: |b, v, u| {
            b.hedge_delay_max(dur(v, u)?);
            Ok(())
        },
    },
    OptionDef {
        name: "role_query",
        aliases: &[],
        default: super::DEFAULT_ROLE_QUERY,
        show: |o| Shown::Text(Some(o.role_query().to_owned())),
        apply: |b, v, _| {
            b.role_query(v);
            Ok(())
        },
    },
    OptionDef {
        name: "discover_hosts",
        aliases: &[],
        default: "false",
        show: |o| Shown::Bool(o.discover_hosts),
        apply: |b, v, _| {
            b.discover_hosts(value::boolean(v)?);
            Ok(())
        },
    },
    OptionDef {
        name: "galera",
        aliases: &[],
        default: "false",
        show: |o| Shown::Bool(o.mode == super::Mode::Galera),
        apply: |b, v, _| {
            b.galera(value::boolean(v)?);
            Ok(())
        },
    },
    OptionDef {
        name: "galera_writers",
        aliases: &[],
        default: "single",
        show: |o| Shown::Text(Some(o.galera_writers.name().to_owned())),
        apply: |b, v, _| {
            b.galera_writers(super::GaleraWriters::parse(v)?);
            Ok(())
        },
    },
    OptionDef {
        name: "reject_read_only",
        aliases: &["rejectReadOnly"],
        default: "false",
        show: |o| Shown::Bool(o.reject_read_only),
        apply: |b, v, _| {
            b.reject_read_only(value::boolean(v)?);
            Ok(())
        },
    },
    OptionDef {
        name: "ssl_mode",
        aliases: &["sslMode", "useSSL"],
        default: "disabled",
        show: |o| Shown::Text(Some(o.tls.mode().name().to_owned())),
        apply: |b, v, _| {
            b.ssl_mode(SslMode::parse(v)?);
            Ok(())
        },
    },
    OptionDef {
        name: "ssl_ca",
        aliases: &["serverSslCert", "sslrootcert"],
        default: "none",
        show: |o| Shown::Text(o.tls.ca().map(|p| p.display().to_string())),
        apply: |b, v, _| {
            b.ssl_ca(path(v)?);
            Ok(())
        },
    },
    OptionDef {
        name: "ssl_cert",
        aliases: &["sslcert"],
        default: "none",
        show: |o| Shown::Text(o.tls.cert().map(|p| p.display().to_string())),
        apply: |b, v, _| {
            b.tls_mut().set_cert_only(path(v)?);
            Ok(())
        },
    },
    OptionDef {
        name: "ssl_key",
        aliases: &["sslkey"],
        default: "none",
        show: |o| Shown::Text(o.tls.key().map(|p| p.display().to_string())),
        apply: |b, v, _| {
            b.tls_mut().set_key_only(path(v)?);
            Ok(())
        },
    },
    OptionDef {
        name: "ssl_server_name",
        aliases: &[],
        default: "the host's name",
        show: |o| Shown::Text(o.tls.server_name().map(str::to_owned)),
        apply: |b, v, _| {
            b.ssl_server_name(v);
            Ok(())
        },
    },
    OptionDef {
        name: "srv_refresh",
        aliases: &[],
        default: "30s",
        show: |o| Shown::Ms(Some(o.srv_refresh)),
        apply: |b, v, u| {
            b.srv_refresh(nonzero(dur(v, u)?)?);
            Ok(())
        },
    },
    OptionDef {
        name: "dns_servers",
        aliases: &[],
        default: "the system's (/etc/resolv.conf)",
        show: |o| Shown::List(o.dns_servers.iter().map(|a| a.to_string()).collect()),
        apply: |b, v, _| {
            let servers = value::list(v)
                .iter()
                .map(|s| dns_server(s))
                .collect::<Result<Vec<_>, _>>()?;
            if servers.is_empty() {
                return Err("expected ip:port[,ip:port…], e.g. 127.0.0.1:8600".to_owned());
            }
            b.dns_servers(servers);
            Ok(())
        },
    },
];

/// One DNS server: `ip:port`, `[v6]:port`, or an IP alone (port 53). An address, not a name:
/// the name of the DNS server would need a DNS server to look up.
fn dns_server(s: &str) -> Result<std::net::SocketAddr, String> {
    if let Ok(a) = s.parse::<std::net::SocketAddr>() {
        if a.port() == 0 {
            return Err(format!("`{s}`: port 0 is not a port"));
        }
        return Ok(a);
    }
    match s.parse::<std::net::IpAddr>() {
        Ok(ip) => Ok(std::net::SocketAddr::new(ip, 53)),
        Err(_) => Err(format!(
            "`{s}` is not ip:port (an IP address, not a name: e.g. 127.0.0.1:8600, [::1]:53)"
        )),
    }
}

/// `mysql_async` URL parameters, passed on to every host unchanged.
pub(crate) static PASS_THROUGH: &[&str] = &[
    "pool_min",
    "pool_max",
    "inactive_connection_ttl",
    "ttl_check_interval",
    "conn_ttl",
    "abs_conn_ttl",
    "abs_conn_ttl_jitter",
    "tcp_keepalive",
    "max_allowed_packet",
    "wait_timeout",
    "enable_cleartext_plugin",
    "reset_connection",
    "tcp_nodelay",
    "stmt_cache_size",
    "secure_auth",
    "client_found_rows",
    "compression",
];

/// The most rounds `retries_all_down` takes.
pub(crate) const RETRIES_MAX: u64 = 1000;

/// The most connections per host `pool_max` (and `pool_min`) takes: far above what a server
/// serves (MariaDB's `max_connections` tops out at 100000), far below what would make the
/// pool's semaphore panic.
pub(crate) const POOL_MAX: u64 = 100_000;

/// A year in seconds: the longest duration an option takes, in mysql_async's seconds too.
const YEAR: u64 = 365 * 24 * 3600;

/// The numeric `mysql_async` parameters: the range this crate takes, and what the number
/// means. mysql_async itself takes any `u64` (or `usize`, `u32`) and then panics
/// (`Instant + ttl`, a semaphore of `pool_max` permits), clamps in silence
/// (`max_allowed_packet`, `wait_timeout`), or replaces the value (`ttl_check_interval` < 1),
/// or the OS refuses it at every connect (`tcp_keepalive`).
pub(crate) static PASS_THROUGH_RANGES: &[(&str, u64, u64, &str)] = &[
    (
        "pool_min",
        0,
        POOL_MAX,
        "idle connections kept per host, at most pool_max",
    ),
    (
        "pool_max",
        1,
        POOL_MAX,
        "connections per host; 100000 is this crate's bound",
    ),
    (
        "inactive_connection_ttl",
        0,
        YEAR,
        "seconds, at most a year",
    ),
    (
        "ttl_check_interval",
        1,
        YEAR,
        "seconds, at most a year; mysql_async would use 30 for less than 1",
    ),
    ("conn_ttl", 0, YEAR, "seconds, at most a year"),
    ("abs_conn_ttl", 0, YEAR, "seconds, at most a year"),
    ("abs_conn_ttl_jitter", 0, YEAR, "seconds, at most a year"),
    (
        "tcp_keepalive",
        1000,
        32_767_000,
        "milliseconds; Linux takes 1 s to 32767 s of idle time before the first probe",
    ),
    (
        "max_allowed_packet",
        1024,
        1_073_741_824,
        "bytes, as the server takes it; mysql_async would clamp other values in silence",
    ),
    (
        "wait_timeout",
        1,
        YEAR,
        "seconds, the server's range; mysql_async would clamp other values in silence",
    ),
    (
        "stmt_cache_size",
        0,
        1_048_576,
        "prepared statements per connection; a server's max_prepared_stmt_count goes no higher",
    ),
];

/// Parameters that `mysql_async` knows but that cannot work through this crate.
static REFUSED: &[(&str, &str)] = &[
    (
        "prefer_socket",
        "every host is dialled over TCP; mysql_async's switch to the server's Unix socket would bypass the host list, so it is always off",
    ),
    (
        "socket",
        "a Unix socket names one local server; list hosts as host:port instead",
    ),
    (
        "require_ssl",
        "use ssl_mode=required (or verify_ca, verify_identity): one option for what mysql_async spreads over four",
    ),
    (
        "verify_ca",
        "use ssl_mode=verify_ca (or verify_identity) instead",
    ),
    ("verify_identity", "use ssl_mode=verify_identity instead"),
    (
        "built_in_roots",
        "giving ssl_ca makes it the only trust anchor; without it the built-in roots are used",
    ),
    (
        "trustCertificateKeyStoreUrl",
        "Java key stores cannot be read here: export the CA as PEM (keytool -exportcert -rfc -keystore FILE -alias NAME) and give it as ssl_ca",
    ),
    (
        "clientCertificateKeyStoreUrl",
        "Java key stores cannot be read here: export the certificate and key as PEM (openssl pkcs12 -in FILE.p12 -nodes) and give them as ssl_cert and ssl_key",
    ),
    (
        "keyStore",
        "Java key stores cannot be read here: export the certificate and key as PEM (openssl pkcs12 -in FILE.p12 -nodes) and give them as ssl_cert and ssl_key",
    ),
];

/// Finds an option by any of its names (case-sensitive for ours, as Connector/J's are).
pub(crate) fn find(name: &str) -> Option<(&'static OptionDef, Units)> {
    OPTIONS.iter().find_map(|def| {
        if def.name == name {
            Some((def, Units::Ours))
        } else if def.aliases.contains(&name) {
            Some((def, Units::ConnectorJ))
        } else {
            None
        }
    })
}

impl OptionDef {
    /// Sets this option on the builder from its text value.
    pub(crate) fn apply(
        &self,
        builder: &mut LbOptsBuilder,
        given_as: &str,
        value: &str,
        units: Units,
    ) -> Result<(), UrlError> {
        (self.apply)(builder, value, units).map_err(|why| {
            UrlError::new(
                UrlErrorKind::BadValue,
                format!("{given_as}={value}"),
                format!("bad value for {given_as}: {why}"),
            )
        })
    }
}

/// Checks a mysql_async parameter: passed on, refused with a reason, or unknown.
pub(crate) fn check_pass_through(name: &str, value: &str) -> Result<(), UrlError> {
    let off = value::boolean(value).ok() == Some(false);
    if (name == "prefer_socket" && off) || harmless_tls_off(name, value) {
        return Ok(());
    }
    if let Some((_, why)) = REFUSED.iter().find(|(n, _)| *n == name) {
        return Err(UrlError::new(
            UrlErrorKind::Unsupported,
            format!("{name}={value}"),
            (*why).to_owned(),
        ));
    }
    if !PASS_THROUGH.contains(&name) {
        return Err(unknown_option(name));
    }
    if let Some(&(_, min, max, unit)) = PASS_THROUGH_RANGES.iter().find(|r| r.0 == name) {
        value::count(value, min, max).map_err(|why| {
            UrlError::new(
                UrlErrorKind::BadValue,
                format!("{name}={value}"),
                format!("bad value for {name}: {why}; {unit}"),
            )
        })?;
    }
    // `pool_max` alone is checked against the smallest `pool_min` (see `default_pool_min`),
    // `pool_min` against the largest `pool_max`; the two are checked together at the end.
    let floor = match name {
        "pool_max" => "&pool_min=0".to_owned(),
        "pool_min" => format!("&pool_max={POOL_MAX}"),
        _ => String::new(),
    };
    let probe = format!(
        "mysql://probe@127.0.0.1/?{}={}{floor}",
        name,
        url::form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>()
    );
    mysql_async::Opts::from_url(&probe).map(drop).map_err(|e| {
        UrlError::new(
            UrlErrorKind::BadValue,
            format!("{name}={value}"),
            format!("bad value for mysql_async option {name}: {e}"),
        )
    })
}

/// `pool_max` below mysql_async's default `pool_min` (10) without a `pool_min` would be an
/// error there; here it lowers `pool_min` to `pool_max`, which is what `pool_max=2` means.
pub(crate) fn default_pool_min(params: &mut Vec<(String, String)>) {
    let max = params
        .iter()
        .find(|(n, _)| n == "pool_max")
        .and_then(|(_, v)| v.parse::<usize>().ok());
    if let Some(max) = max
        && max < 10
        && !params.iter().any(|(n, _)| n == "pool_min")
    {
        params.push(("pool_min".into(), max.to_string()));
    }
}

/// Checks the mysql_async parameters as one set, as `LbOpts::mysql_opts` will use them.
pub(crate) fn check_pass_through_together(params: &[(String, String)]) -> Result<(), UrlError> {
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter())
        .finish();
    mysql_async::Opts::from_url(&format!("mysql://probe@127.0.0.1/?{query}"))
        .map(drop)
        .map_err(|e| {
            let part: Vec<String> = params.iter().map(|(n, v)| format!("{n}={v}")).collect();
            UrlError::new(
                UrlErrorKind::Conflict,
                part.join("&"),
                format!("mysql_async options do not fit together: {e}"),
            )
        })
}

/// The error for an unknown name, suggesting the nearest known one.
pub(crate) fn unknown_option(name: &str) -> UrlError {
    let message = match suggestion(name) {
        Some(k) => format!("unknown option `{name}`; did you mean `{k}`?"),
        None => format!("unknown option `{name}`; the README lists the options"),
    };
    UrlError::new(UrlErrorKind::UnknownOption, name, message)
}

/// The known name nearest to `name`, if it is near enough to be a typo of it.
pub(crate) fn suggestion(name: &str) -> Option<&'static str> {
    let known = OPTIONS
        .iter()
        .flat_map(|d| std::iter::once(d.name).chain(d.aliases.iter().copied()))
        .chain(PASS_THROUGH.iter().copied())
        .chain(REFUSED.iter().map(|(n, _)| *n))
        .chain(["user", "password"]);
    let lower = name.to_ascii_lowercase();
    known
        .map(|k| (strsim::levenshtein(&lower, &k.to_ascii_lowercase()), k))
        .min_by_key(|(d, _)| *d)
        .filter(|(d, _)| *d <= (name.len() / 3).max(2))
        .map(|(_, k)| k)
}

/// One of mysql_async's TLS switches turned off: accepted and dropped (it asks for nothing
/// that `ssl_mode` does not already say).
pub(crate) fn harmless_tls_off(name: &str, value: &str) -> bool {
    [
        "require_ssl",
        "verify_ca",
        "verify_identity",
        "built_in_roots",
    ]
    .contains(&name)
        && value::boolean(value).ok() == Some(false)
}

/// Whether `name` is a mysql_async parameter this crate refuses (with a reason, at build).
pub(crate) fn is_refused(name: &str) -> bool {
    REFUSED.iter().any(|(n, _)| *n == name)
}
