//! Properties of the connection-string parser: it never panics, generated multi-host URLs
//! parse back to what was generated, and a password never shows in errors or Debug output.

use std::net::{Ipv4Addr, Ipv6Addr};

use mysql_lb::{LbOpts, UrlError};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use proptest::prelude::*;
use serde_json::{Value, json};

/// The number of cases: `default`, or `PROPTEST_CASES` when set (for a long run; proptest
/// reads it only when the config gives no count of its own).
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

/// Every text a parse result can be shown as.
fn shown(result: &Result<LbOpts, UrlError>) -> Vec<String> {
    match result {
        Ok(opts) => vec![format!("{opts:?}"), opts.to_json().to_string()],
        Err(err) => vec![err.to_string(), format!("{err:?}")],
    }
}

// ---------------------------------------------------------------------------------------
// Generated valid URLs

/// A scheme, the mode it means and the strategy it defaults to.
const SCHEMES: &[(&str, &str, &str)] = &[
    ("mysql", "loadbalance", "random"),
    ("mariadb", "loadbalance", "random"),
    ("mysql:loadbalance", "loadbalance", "random"),
    ("jdbc:mysql:loadbalance", "loadbalance", "random"),
    ("jdbc:mariadb:loadbalance", "loadbalance", "random"),
    ("jdbc:mysql", "failover", "sequential"),
    ("mysql:failover", "failover", "sequential"),
    ("jdbc:mariadb:sequential", "failover", "sequential"),
    ("jdbc:mysql:replication", "replication", "random"),
    ("mariadb:replication", "replication", "random"),
];

const STRATEGIES: &[&str] = &[
    "random",
    "bestResponseTime",
    "roundRobin",
    "sequential",
    "peakEwma",
];

/// One host: how it is written in the URL, and the host and port it must parse to.
#[derive(Clone, Debug)]
struct GenHost {
    written: String,
    host: String,
    port: u16,
}

impl GenHost {
    fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// (how the host is written alone, how inside `host=`, what it parses to)
fn host_name() -> impl Strategy<Value = (String, String, String)> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,8}(\\.[a-z][a-z0-9_]{0,8}){0,2}".prop_map(|h| (h.clone(), h.clone(), h)),
        "[A-Za-z][A-Za-z0-9]{0,8}".prop_map(|h| (h.clone(), h.clone(), h.to_ascii_lowercase())),
        any::<[u8; 4]>().prop_map(|o| {
            let ip = Ipv4Addr::from(o).to_string();
            (ip.clone(), ip.clone(), ip)
        }),
        (any::<[u16; 8]>(), any::<bool>()).prop_map(|(segs, spelled_out)| {
            let ip = Ipv6Addr::from(segs);
            // Spelled out in upper case, or canonical: both must come back canonical.
            let written = if spelled_out {
                segs.iter()
                    .map(|s| format!("{s:X}"))
                    .collect::<Vec<_>>()
                    .join(":")
            } else {
                ip.to_string()
            };
            (format!("[{written}]"), written, ip.to_string())
        }),
    ]
}

fn gen_host() -> impl Strategy<Value = GenHost> {
    (host_name(), prop::option::of(1u16..=65535), 0..3u8).prop_map(
        |((alone, inner, host), port, form)| {
            let written = match (form, port) {
                (0, None) => alone,
                (0, Some(p)) => format!("{alone}:{p}"),
                (1, None) => format!("address=(host={inner})"),
                (1, Some(p)) => format!("address=(host={inner})(port={p})"),
                (_, None) => format!("(host={inner})"),
                (_, Some(p)) => format!("(host={inner},port={p})"),
            };
            GenHost {
                written,
                host,
                port: port.unwrap_or(3306),
            }
        },
    )
}

fn gen_hosts() -> impl Strategy<Value = Vec<GenHost>> {
    prop::collection::vec(gen_host(), 1..6).prop_map(|hosts| {
        let mut seen = std::collections::HashSet::new();
        hosts
            .into_iter()
            .filter(|h| seen.insert(h.addr()))
            .collect()
    })
}

/// A duration option: (our name or a Connector/J name, milliseconds).
fn gen_duration(
    ours: &'static str,
    cj: &'static [&'static str],
) -> impl Strategy<Value = (String, u64)> {
    (0..=cj.len(), 1u64..3_600_000).prop_map(move |(which, ms)| {
        if which == 0 {
            (format!("{ours}={ms}ms"), ms)
        } else {
            (format!("{}={ms}", cj[which - 1]), ms)
        }
    })
}

const STRATEGY_NAMES: &[&str] = &["strategy", "loadBalanceStrategy", "ha.loadBalanceStrategy"];

#[derive(Clone, Debug)]
struct GenUrl {
    url: String,
    expect: Value,
    password: Option<String>,
}

prop_compose! {
    fn gen_url()(
        scheme in prop::sample::select(SCHEMES),
        hosts in gen_hosts(),
        user in prop::option::of("[a-zA-Z0-9@:/?#&=%+ !$,;()\\[\\]é]{1,10}"),
        // Ω makes the password text unlike anything else the parser could print.
        password in prop::option::of("[a-zA-Z0-9@:/?#&=%+ !$,;]{6,12}".prop_map(|p| format!("Ω{p}"))),
        credentials_in_query in any::<bool>(),
        database in prop::option::of("[a-zA-Z0-9_$]{1,20}"),
        strategy in prop::option::of(0..=STRATEGIES.len()),
        strategy_name in prop::sample::select(STRATEGY_NAMES),
        blacklist in prop::option::of(gen_duration("blacklist_timeout", &["loadBalanceBlacklistTimeout", "loadBalanceBlocklistTimeout"])),
        connect in prop::option::of(gen_duration("connect_timeout", &["connectTimeout"])),
        pool_max in prop::option::of(10u32..500),
    ) -> GenUrl {
        let (scheme, mode, default_strategy) = scheme;
        let mut url = format!("{scheme}://");
        let mut query: Vec<String> = Vec::new();
        // A password needs a user in the authority; as parameters, either may come alone.
        let creds_in_query = credentials_in_query || (user.is_none() && password.is_some());
        if creds_in_query {
            if let Some(u) = &user {
                query.push(format!("user={}", enc(u)));
            }
            if let Some(p) = &password {
                query.push(format!("password={}", enc(p)));
            }
        } else if let Some(u) = &user {
            url.push_str(&enc(u));
            if let Some(p) = &password {
                url.push(':');
                url.push_str(&enc(p));
            }
            url.push('@');
        }
        url.push_str(&hosts.iter().map(|h| h.written.as_str()).collect::<Vec<_>>().join(","));
        if let Some(db) = &database {
            url.push('/');
            url.push_str(db);
        }
        let mut strategy_out = default_strategy.to_owned();
        let mut affinity: Vec<String> = Vec::new();
        match strategy {
            Some(i) if i < STRATEGIES.len() => {
                query.push(format!("{strategy_name}={}", STRATEGIES[i]));
                strategy_out = STRATEGIES[i].to_owned();
            }
            Some(_) => {
                // serverAffinity with every host, last first.
                affinity = hosts.iter().rev().map(GenHost::addr).collect();
                query.push(format!("{strategy_name}=serverAffinity"));
                query.push(format!("serverAffinityOrder={}", affinity.join(",")));
                strategy_out = "serverAffinity".to_owned();
            }
            None => {}
        }
        let mut blacklist_ms = 10_000;
        if let Some((param, ms)) = &blacklist {
            query.push(param.clone());
            blacklist_ms = *ms;
        }
        let mut connect_ms = 2_000;
        if let Some((param, ms)) = &connect {
            query.push(param.clone());
            connect_ms = *ms;
        }
        let mut pass_through = serde_json::Map::new();
        if let Some(n) = pool_max {
            query.push(format!("pool_max={n}"));
            pass_through.insert("pool_max".into(), json!(n.to_string()));
        }
        if !query.is_empty() {
            url.push('?');
            url.push_str(&query.join("&"));
        }
        let hosts_json: Vec<Value> = hosts
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let role = match (mode, i) {
                    ("replication", 0) => "source",
                    ("replication", _) => "replica",
                    _ => "any",
                };
                json!({"host": h.host, "port": h.port, "role": role})
            })
            .collect();
        let expect = json!({
            "hosts": hosts_json,
            "user": user,
            "password": password.as_ref().map(|_| "***"),
            "database": database,
            "mode": mode,
            "strategy": strategy_out,
            "server_affinity_order": affinity,
            "blacklist_timeout_ms": blacklist_ms,
            "connect_timeout_ms": connect_ms,
            "pass_through": pass_through,
        });
        GenUrl { url, expect, password }
    }
}

/// Ways to break a valid URL after its user information.
const BREAKAGES: &[&str] = &[
    "&no_such_option=1",
    "&strategy=nope",
    "&connect_timeout=5",
    "&prefer_socket=true",
    "&require_ssl=true",
    "&password=again",
    "&pool_min=1000&pool_max=10",
    "&serverAffinityOrder=elsewhere:1",
    "&blacklist_timeout=1s&loadBalanceBlacklistTimeout=1000",
    "#fragment",
];

/// Host-list breakages, put in front of the first host.
const HOST_BREAKAGES: &[&str] = &[
    ",",
    "h:0,",
    "h:65536,",
    "[::g],",
    "::1,",
    "address=(host=h,",
    "(host=h,",
    "[::1,",
    "h!,",
];

fn check_password_hidden(url: &str, password: &str, result: &Result<LbOpts, UrlError>) {
    for text in shown(result) {
        for form in [password.to_owned(), enc(password)] {
            assert!(
                !text.contains(&form),
                "password {form:?} of {url:?} shows in {text:?}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_never_panic(s in any::<String>()) {
        let _ = s.parse::<LbOpts>();
    }

    #[test]
    fn urlish_strings_never_panic(
        scheme in prop::sample::select(SCHEMES),
        body in "[a-zA-Z0-9:@/?&=,.\\[\\]()%_+#! é-]{0,80}",
    ) {
        let url = format!("{}://{body}", scheme.0);
        let _ = url.parse::<LbOpts>();
    }

    #[test]
    fn token_soup_never_panics(
        scheme in prop::sample::select(SCHEMES),
        tokens in prop::collection::vec(prop::sample::select(TOKENS), 0..30),
    ) {
        let url = format!("{}://{}", scheme.0, tokens.concat());
        let _ = url.parse::<LbOpts>();
    }

    #[test]
    fn generated_urls_parse_back(g in gen_url()) {
        let opts = g.url.parse::<LbOpts>().map_err(|e| {
            TestCaseError::fail(format!("{:?} did not parse: {e:?}", g.url))
        })?;
        let json = opts.to_json();
        for (field, want) in g.expect.as_object().into_iter().flatten() {
            prop_assert_eq!(&json[field], want, "field `{}` of {:?}", field, g.url);
        }
        if let Some(p) = &g.password {
            check_password_hidden(&g.url, p, &Ok(opts));
        }
    }

    #[test]
    fn passwords_never_show_in_errors(
        g in gen_url(),
        breakage in prop::sample::select(BREAKAGES),
        host_breakage in prop::option::of(prop::sample::select(HOST_BREAKAGES)),
    ) {
        let Some(password) = g.password.clone() else { return Ok(()) };
        let mut url = g.url.clone();
        let breakage = if url.contains('?') {
            breakage.to_owned()
        } else {
            breakage.replacen('&', "?", 1)
        };
        url.push_str(&breakage);
        if let Some(hb) = host_breakage {
            let start = url.find("://").unwrap() + 3;
            let at = url[start..].find('@').map_or(start, |i| start + i + 1);
            url.insert_str(at, hb);
        }
        let result = url.parse::<LbOpts>();
        prop_assert!(result.is_err(), "{:?} parsed", url);
        check_password_hidden(&url, &password, &result);
    }

    /// A password written without percent-encoding: whatever it does to the parse, the whole
    /// password never shows.
    #[test]
    fn unencoded_passwords_never_show(
        g in gen_url(),
        raw in "[a-zA-Z0-9@:/?&=%+!$,;()\\[\\]]{4,12}",
    ) {
        let password = format!("Ω{raw}");
        let start = g.url.find("://").unwrap() + 3;
        let url = format!("{}app:{password}@{}", &g.url[..start], &g.url[start..]);
        let result = url.parse::<LbOpts>();
        for text in shown(&result) {
            prop_assert!(!text.contains(&password), "password {:?} of {:?} shows in {:?}", password, url, text);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Passwords with every special character, encoded or not, in the user information or in
// `password=`: no piece of six characters or more may show.

/// A password of 8 to 16 characters: Greek letters (which nothing else in the URLs or in the
/// messages holds) mixed with every character that means something in a URL.
fn gen_password() -> impl Strategy<Value = String> {
    let specials = prop::sample::select(
        &[
            '&', '=', '@', '/', '?', '#', '%', ':', '+', ',', ';', '!', '$', '[', ']', '(', ')',
            ' ',
        ][..],
    );
    let greek = prop::sample::select(
        &[
            'α', 'β', 'γ', 'δ', 'ε', 'ζ', 'η', 'θ', 'κ', 'λ', 'μ', 'ξ', 'π', 'σ', 'φ', 'ψ', 'ω',
        ][..],
    );
    prop::collection::vec(prop_oneof![2 => greek, 1 => specials], 8..=16)
        .prop_map(|chars| chars.into_iter().collect())
}

/// The pieces of `password` that must not show: every 6-character window that holds a Greek
/// letter (a window of punctuation alone could be anywhere), and every 12-character window of
/// its percent-encoded form that starts a Greek letter's encoding.
fn password_pieces(password: &str) -> Vec<String> {
    let chars: Vec<char> = password.chars().collect();
    let mut pieces: Vec<String> = chars
        .windows(6)
        .map(|w| w.iter().collect::<String>())
        .filter(|w| !w.is_ascii())
        .collect();
    let encoded = enc(password);
    for (i, _) in encoded
        .match_indices("%CE")
        .chain(encoded.match_indices("%CF"))
    {
        if let Some(piece) = encoded.get(i..i + 12) {
            pieces.push(piece.to_owned());
        }
    }
    pieces.push(password.to_owned());
    pieces
}

fn check_no_piece(
    url: &str,
    password: &str,
    result: &Result<LbOpts, UrlError>,
) -> Result<(), TestCaseError> {
    for text in shown(result) {
        for piece in password_pieces(password) {
            prop_assert!(
                !text.contains(&piece),
                "{:?} of password {:?} in {:?} shows in {:?}",
                piece,
                password,
                url,
                text
            );
        }
    }
    Ok(())
}

/// Options around the password: good ones, and ones that make the URL fail.
const OTHER_OPTIONS: &[&str] = &[
    "strategy=roundRobin",
    "connect_timeout=1s",
    "pool_max=20",
    "retry_reads=false",
    "no_such_option=1",
    "strategy=nope",
    "flag",
    "connect_timeout=5",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(1024), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn password_pieces_never_show(
        scheme in prop::sample::select(SCHEMES),
        hosts in gen_hosts(),
        database in prop::option::of("[a-z_]{1,10}"),
        password in gen_password(),
        in_userinfo in any::<bool>(),
        encoded in any::<bool>(),
        options in prop::collection::vec(prop::sample::select(OTHER_OPTIONS), 0..4),
        password_at in any::<prop::sample::Index>(),
    ) {
        let written = if encoded { enc(&password) } else { password.clone() };
        let mut url = format!("{}://app", scheme.0);
        if in_userinfo {
            url.push(':');
            url.push_str(&written);
        }
        url.push('@');
        url.push_str(&hosts.iter().map(|h| h.written.as_str()).collect::<Vec<_>>().join(","));
        if let Some(db) = &database {
            url.push('/');
            url.push_str(db);
        }
        let mut query: Vec<String> = options.iter().map(|o| o.to_string()).collect();
        if !in_userinfo {
            let at = password_at.index(query.len() + 1);
            query.insert(at, format!("password={written}"));
        }
        if !query.is_empty() {
            url.push(if database.is_some() { '?' } else { '/' });
            if database.is_none() {
                url.push('?');
            }
            url.push_str(&query.join("&"));
        }
        let result = url.parse::<LbOpts>();
        check_no_piece(&url, &password, &result)?;
    }
}

/// Every option that takes a number: mysql_async's, ours, and our durations (with and
/// without a unit, under our names and Connector/J's).
const NUMERIC_OPTIONS: &[&str] = &[
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
    "stmt_cache_size",
    "compression",
    "retries_all_down",
    "retriesAllDown",
    "autocommit_threshold",
    "loadBalanceAutoCommitStatementThreshold",
    "failover_codes",
    "blacklist_timeout",
    "loadBalanceBlacklistTimeout",
    "connect_timeout",
    "connectTimeout",
    "socket_timeout",
    "socketTimeout",
    "ping_timeout",
    "loadBalancePingTimeout",
    "idle_ping_after",
    "latency_decay",
    "max_replication_lag",
    "causal_read_timeout",
    "acquire_timeout",
    "health_check_interval",
];

/// Numbers of every size and sign, with and without units, and number-like junk.
fn numeric_value() -> impl Strategy<Value = String> {
    let unit = prop::sample::select(&["", "ms", "s", "m", "min", "h", "x"][..]);
    prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u128>().prop_map(|n| n.to_string()),
        (0u64..2_000_000).prop_map(|n| n.to_string()),
        (any::<u64>(), unit.clone()).prop_map(|(n, u)| format!("{n}{u}")),
        (any::<f64>(), unit).prop_map(|(f, u)| format!("{f}{u}")),
        "[0-9+. eE-]{0,25}",
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(512), failure_persistence: None, ..ProptestConfig::default() })]

    /// A numeric option either is refused at parse time or gives options that build a pool:
    /// constructing a pool dials nothing, so any panic there is a value let through.
    #[test]
    fn numeric_options_parse_or_refuse_and_never_panic(
        params in prop::collection::vec((prop::sample::select(NUMERIC_OPTIONS), numeric_value()), 1..4),
    ) {
        let query: Vec<String> = params.iter().map(|(n, v)| format!("{n}={}", enc(v))).collect();
        let url = format!("mysql://h1,h2:3307/db?{}", query.join("&"));
        if let Ok(opts) = url.parse::<LbOpts>() {
            let pool = mysql_lb::LoadBalancedPool::new(opts.clone());
            prop_assert_eq!(pool.hosts().len(), 2);
            let _ = opts.mysql_opts(&opts.hosts()[0].addr);
        }
    }
}

/// Pieces of connection strings, good and bad, for [`token_soup_never_panics`].
const TOKENS: &[&str] = &[
    "h1",
    "H2",
    "db.example.com",
    ":",
    "3306",
    "0",
    "65536",
    "99999999999",
    ",",
    ",,",
    "[",
    "]",
    "::1",
    "[::1]",
    "[fe80::1%eth0]",
    "(",
    ")",
    "address=",
    "(host=h1)",
    "(port=3307)",
    "(type=replica)",
    "(type=source)",
    "host=",
    "port=",
    "type=",
    "master",
    "@",
    "u:pw@",
    "/",
    "/db",
    "?",
    "&",
    "=",
    "%",
    "%40",
    "%zz",
    "%FF",
    "%2F",
    "strategy",
    "serverAffinity",
    "serverAffinityOrder",
    "ha.loadBalanceStrategy",
    "connectTimeout",
    "blacklist_timeout",
    "loadBalanceBlacklistTimeout",
    "5s",
    "250ms",
    "1.5m",
    "1e400s",
    "1000",
    "-1",
    "pool_min",
    "pool_max",
    "prefer_socket",
    "require_ssl",
    "socket",
    "true",
    "false",
    "user",
    "password",
    "#",
    " ",
    "é",
    "\u{0}",
    "autocommit_regex",
    "(?",
    "failover_codes",
    "1040,1205",
    "compression",
    "tcp_keepalive",
    "max_allowed_packet",
    "18446744073709551616",
];
