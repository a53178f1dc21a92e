//! Connection-string fixtures: `fixtures/urls/valid.json` and `fixtures/urls/invalid.json`.
//!
//! A valid case lists the fields of `LbOpts::to_json()` it is about, under `expect`; each is
//! compared as JSON. An invalid case gives the error `kind` (a `UrlErrorKind` variant name),
//! a substring of `err.part()`, and optionally a substring of the message. For every case, the
//! password (taken from the URL, plus any `secrets` the case lists) must not show up in Debug
//! output, `to_json()`, or the error's Display and Debug forms.
//!
//! The option tables in `src/opts/mod.rs` and `README.md` (when there is one) are checked
//! against `mysql_lb::option_names()`.

use std::path::{Path, PathBuf};

use mysql_lb::{LbOpts, UrlError};
use percent_encoding::percent_decode_str;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn load(name: &str) -> Vec<Value> {
    let path = root().join("fixtures/urls").join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    match serde_json::from_str(&text) {
        Ok(Value::Array(cases)) => cases,
        Ok(_) => panic!("{}: expected a JSON array of cases", path.display()),
        Err(e) => panic!("{}: {e}", path.display()),
    }
}

fn str_field<'a>(case: &'a Value, field: &str) -> &'a str {
    case[field]
        .as_str()
        .unwrap_or_else(|| panic!("case {case}: `{field}` must be a string"))
}

/// The passwords a URL holds, raw and percent-decoded, found the way the parser finds them:
/// between `scheme://…:` and the last `@` before the first `?`, and in `password=` parameters.
fn passwords_in(url: &str) -> Vec<String> {
    let mut raw = Vec::new();
    if let Some((_, rest)) = url.split_once("://") {
        let before_query = rest.find('?').unwrap_or(rest.len());
        if let Some(at) = rest[..before_query].rfind('@')
            && let Some((_, pass)) = rest[..at].split_once(':')
        {
            raw.push(pass.to_owned());
        }
        if let Some((_, query)) = rest.split_once('?') {
            for pair in query.split('&') {
                if let Some(value) = pair.strip_prefix("password=") {
                    raw.push(value.to_owned());
                }
            }
        }
    }
    let mut all = Vec::new();
    for p in raw {
        all.push(percent_decode_str(&p).decode_utf8_lossy().into_owned());
        all.push(p);
    }
    all.retain(|p| !p.is_empty());
    all.dedup();
    all
}

fn secrets_of(case: &Value) -> Vec<String> {
    let mut secrets = passwords_in(str_field(case, "url"));
    if let Some(extra) = case["secrets"].as_array() {
        secrets.extend(extra.iter().filter_map(|s| s.as_str()).map(str::to_owned));
    }
    secrets
}

/// Every text the parser's result can be shown as.
fn outputs(result: &Result<LbOpts, UrlError>) -> Vec<(&'static str, String)> {
    match result {
        Ok(opts) => vec![
            ("Debug of LbOpts", format!("{opts:?}")),
            ("to_json()", opts.to_json().to_string()),
        ],
        Err(err) => vec![
            ("err.to_string()", err.to_string()),
            ("Debug of the error", format!("{err:?}")),
        ],
    }
}

fn check_no_secret(name: &str, case: &Value, result: &Result<LbOpts, UrlError>) -> Vec<String> {
    let mut failures = Vec::new();
    for secret in secrets_of(case) {
        for (what, text) in outputs(result) {
            if text.contains(&secret) {
                failures.push(format!(
                    "{name}: password {secret:?} appears in {what}: {text}"
                ));
            }
        }
    }
    failures
}

#[test]
fn valid_fixtures_parse_to_what_they_state() {
    let cases = load("valid.json");
    let mut failures = Vec::new();
    for case in &cases {
        let name = str_field(case, "name");
        let url = str_field(case, "url");
        let expect = case["expect"]
            .as_object()
            .unwrap_or_else(|| panic!("{name}: `expect` must be an object"));
        assert!(!expect.is_empty(), "{name}: `expect` states nothing");
        let result = url.parse::<LbOpts>();
        failures.extend(check_no_secret(name, case, &result));
        let opts = match result {
            Ok(opts) => opts,
            Err(err) => {
                failures.push(format!("{name}: {url:?} should parse, got {err:?}"));
                continue;
            }
        };
        let json = opts.to_json();
        for (field, want) in expect {
            match json.get(field) {
                Some(got) if got == want => {}
                Some(got) => failures.push(format!(
                    "{name}: {url:?}: `{field}` is {got}, expected {want}"
                )),
                None => failures.push(format!("{name}: to_json() has no field `{field}`")),
            }
        }
        // The accessors agree with the JSON.
        assert_eq!(opts.has_password(), !json["password"].is_null(), "{name}");
        assert_eq!(
            opts.hosts().len(),
            json["hosts"].as_array().map_or(0, Vec::len)
        );
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    assert!(cases.len() >= 30, "only {} valid cases", cases.len());
}

#[test]
fn invalid_fixtures_fail_with_the_stated_kind_and_part() {
    let cases = load("invalid.json");
    let mut failures = Vec::new();
    for case in &cases {
        let name = str_field(case, "name");
        let url = str_field(case, "url");
        let kind = str_field(case, "kind");
        let part = str_field(case, "part");
        let result = url.parse::<LbOpts>();
        failures.extend(check_no_secret(name, case, &result));
        let err = match result {
            Ok(opts) => {
                failures.push(format!(
                    "{name}: {url:?} should fail with {kind}, parsed to {}",
                    opts.to_json()
                ));
                continue;
            }
            Err(err) => err,
        };
        let got_kind = format!("{:?}", err.kind());
        if got_kind != kind {
            failures.push(format!(
                "{name}: {url:?}: kind {got_kind}, expected {kind} ({err})"
            ));
        }
        if !err.part().contains(part) {
            failures.push(format!(
                "{name}: {url:?}: part {:?} does not contain {part:?} ({err})",
                err.part()
            ));
        }
        // Display names the part.
        if !err.to_string().contains(err.part()) {
            failures.push(format!("{name}: Display {err} does not name the part"));
        }
        if let Some(message) = case["message"].as_str()
            && !err.to_string().contains(message)
        {
            failures.push(format!("{name}: {url:?}: message {err} lacks {message:?}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    assert!(cases.len() >= 30, "only {} invalid cases", cases.len());
}

#[test]
fn fixture_names_are_unique_and_passwords_found() {
    let mut names = std::collections::HashSet::new();
    for case in load("valid.json").iter().chain(load("invalid.json").iter()) {
        let name = str_field(case, "name");
        assert!(
            names.insert(name.to_owned()),
            "fixture name {name:?} used twice"
        );
    }
    // The extractor itself: it must find what the leak checks rely on.
    assert_eq!(
        passwords_in("mysql://u:p%40ss@h/db?password=two"),
        ["p@ss", "p%40ss", "two"]
    );
    assert_eq!(passwords_in("mysql://u:a/b@c@h/db"), ["a/b@c"]);
}

/// The rows of a Markdown option table (`| option | Connector/J names | default | … |`),
/// as cells, from lines that may carry a `//!` or `///` prefix.
fn table_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|l| {
            l.trim_start()
                .trim_start_matches("//!")
                .trim_start_matches("///")
                .trim()
        })
        .filter(|l| l.starts_with('|'))
        .map(|l| {
            l.replace("\\|", "\u{0}")
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().replace('\u{0}', "|"))
                .collect()
        })
        .collect()
}

fn check_documented(doc_name: &str, text: &str) -> Vec<String> {
    let rows = table_rows(text);
    let mut failures = Vec::new();
    for (name, aliases, default) in mysql_lb::option_names() {
        let quoted = format!("`{name}`");
        let Some(row) = rows.iter().find(|r| r.first() == Some(&quoted)) else {
            failures.push(format!("{doc_name}: no table row for option `{name}`"));
            continue;
        };
        for alias in aliases {
            if !row
                .get(1)
                .is_some_and(|c| c.contains(&format!("`{alias}`")))
            {
                failures.push(format!(
                    "{doc_name}: row of `{name}` does not list Connector/J name `{alias}`"
                ));
            }
        }
        let first_word = default.split_whitespace().next().unwrap_or(default);
        if !row.get(2).is_some_and(|c| c.contains(first_word)) {
            failures.push(format!(
                "{doc_name}: row of `{name}` gives default {:?}, the table in code says {default:?}",
                row.get(2)
            ));
        }
    }
    failures
}

#[test]
fn documented_tables_list_every_option() {
    let names = mysql_lb::option_names();
    assert!(
        names.len() >= 20,
        "option_names() lists {} options",
        names.len()
    );
    let mod_rs = std::fs::read_to_string(root().join("src/opts/mod.rs")).expect("src/opts/mod.rs");
    let mut failures = check_documented("src/opts/mod.rs", &mod_rs);
    let readme = root().join("README.md");
    if Path::new(&readme).exists() {
        let text = std::fs::read_to_string(&readme).expect("README.md");
        failures.extend(check_documented("README.md", &text));
    } else {
        eprintln!("README.md does not exist: only src/opts/mod.rs was checked");
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Every numeric option, ours and mysql_async's, refuses what would break later: values that
/// parse must build a pool without a panic (the semaphore, `Instant + ttl`), and values out of
/// range fail at parse time with the option's name and the range.
#[test]
fn numeric_options_out_of_range_never_reach_the_pool() {
    let too_big = [
        ("pool_max", "2305843009213693952", "from 1 to 100000"),
        ("pool_max", "100001", "from 1 to 100000"),
        ("pool_min", "100001", "from 0 to 100000"),
        (
            "inactive_connection_ttl",
            "18446744073709551615",
            "from 0 to 31536000",
        ),
        (
            "ttl_check_interval",
            "18446744073709551615",
            "from 1 to 31536000",
        ),
        ("conn_ttl", "18446744073709551615", "from 0 to 31536000"),
        ("abs_conn_ttl", "18446744073709551615", "from 0 to 31536000"),
        (
            "abs_conn_ttl_jitter",
            "18446744073709551615",
            "from 0 to 31536000",
        ),
        ("tcp_keepalive", "4294967295", "from 1000 to 32767000"),
        (
            "max_allowed_packet",
            "18446744073709551615",
            "from 1024 to 1073741824",
        ),
        ("wait_timeout", "18446744073709551615", "from 1 to 31536000"),
        (
            "stmt_cache_size",
            "18446744073709551615",
            "from 0 to 1048576",
        ),
        ("retries_all_down", "4294967296", "from 1 to 1000"),
        ("autocommit_threshold", "4294967296", "from 0 to 4294967295"),
        (
            "connect_timeout",
            "18446744073709551615ms",
            "at most a year",
        ),
        ("connectTimeout", "18446744073709551615", "at most a year"),
    ];
    for (name, value, range) in too_big {
        let url = format!("mysql://h1,h2/db?{name}={value}");
        let err = match url.parse::<LbOpts>() {
            Ok(opts) => {
                // What the issue was about: this panicked.
                let _ = mysql_lb::LoadBalancedPool::new(opts);
                panic!("{url} parsed");
            }
            Err(e) => e,
        };
        assert_eq!(
            err.kind(),
            &mysql_lb::UrlErrorKind::BadValue,
            "{url}: {err}"
        );
        let text = err.to_string();
        assert!(text.contains(name) && text.contains(range), "{url}: {text}");
    }
    // The largest values allowed build a pool.
    let url = "mysql://h1,h2/db?pool_max=100000&pool_min=100000&inactive_connection_ttl=31536000\
        &ttl_check_interval=31536000&conn_ttl=31536000&abs_conn_ttl=31536000\
        &abs_conn_ttl_jitter=31536000&tcp_keepalive=32767000&max_allowed_packet=1073741824\
        &wait_timeout=31536000&stmt_cache_size=1048576&retries_all_down=1000";
    let opts: LbOpts = url.parse().unwrap_or_else(|e| panic!("{e}"));
    let pool = mysql_lb::LoadBalancedPool::new(opts);
    assert_eq!(pool.hosts().len(), 2);
}

/// The builder caps durations as the URL parser does (`Instant + timeout` must not overflow).
#[test]
fn builder_durations_are_capped_like_urls() {
    use std::time::Duration;
    type Set = fn(&mut mysql_lb::LbOptsBuilder, Duration) -> &mut mysql_lb::LbOptsBuilder;
    let setters: &[(&str, Set)] = &[
        ("blacklist_timeout", |b, d| b.blacklist_timeout(d)),
        ("connect_timeout", |b, d| b.connect_timeout(d)),
        ("socket_timeout", |b, d| b.socket_timeout(d)),
        ("ping_timeout", |b, d| b.ping_timeout(d)),
        ("idle_ping_after", |b, d| b.idle_ping_after(d)),
        ("latency_decay", |b, d| b.latency_decay(d)),
        ("max_replication_lag", |b, d| b.max_replication_lag(d)),
        ("causal_read_timeout", |b, d| b.causal_read_timeout(d)),
        ("acquire_timeout", |b, d| b.acquire_timeout(d)),
        ("health_check_interval", |b, d| b.health_check_interval(d)),
    ];
    for (name, set) in setters {
        for d in [Duration::MAX, Duration::from_secs(365 * 24 * 3600 + 1)] {
            let mut b = LbOpts::builder();
            b.host("h1", 3306);
            let err = set(&mut b, d).build().expect_err(name);
            assert_eq!(err.kind(), &mysql_lb::UrlErrorKind::BadValue, "{name}");
            assert!(
                err.to_string().contains(name) && err.to_string().contains("at most a year"),
                "{err}"
            );
        }
        let mut b = LbOpts::builder();
        b.host("h1", 3306);
        set(&mut b, Duration::from_secs(365 * 24 * 3600))
            .build()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    // latency_decay=0 is refused in a URL; the builder agrees.
    let err = LbOpts::builder()
        .host("h1", 3306)
        .latency_decay(Duration::ZERO)
        .build()
        .expect_err("latency_decay 0");
    assert!(err.to_string().contains("latency_decay"), "{err}");
}

/// The builder refuses the database names the URL parser refuses, with the same kind.
#[test]
fn builder_checks_the_database_like_urls() {
    for name in ["d\0b", "d\nb", "shop ", "shop😀", &"d".repeat(65), ""] {
        let err = LbOpts::builder()
            .host("h1", 3306)
            .database(name)
            .build()
            .expect_err(name);
        assert_eq!(
            err.kind(),
            &mysql_lb::UrlErrorKind::BadDatabase,
            "{name:?}: {err}"
        );
        assert!(!err.to_string().contains('\0'), "{err:?}");
    }
    let opts = LbOpts::builder()
        .host("h1", 3306)
        .database("é".repeat(64))
        .build()
        .expect("64 characters");
    assert_eq!(opts.database().map(|d| d.chars().count()), Some(64));
}

/// The builder refuses the hosts and ports the URL parser refuses, with the same kind and the
/// same explanation.
#[test]
fn builder_checks_hosts_like_urls() {
    let long = "a".repeat(64);
    let long_url = format!("mysql://{long}:3306/db");
    // (host, port, the URL that says the same, whether the explanation is the same too)
    let cases: &[(&str, u16, &str, bool)] = &[
        ("", 0, "mysql://:0/db", true),
        ("", 3306, "mysql://:3306/db", true),
        ("bad host/with?junk", 3306, "mysql://bad host:3306/db", true),
        ("h1", 0, "mysql://h1:0/db", true),
        ("h_1!", 3306, "mysql://h_1!:3306/db", true),
        ("999.1.1.1", 3306, "mysql://999.1.1.1:3306/db", true),
        ("::g", 3306, "mysql://(host=::g)/db", true),
        ("[::1", 3306, "mysql://[::1:3306/db", false),
        (&long, 3306, &long_url, true),
    ];
    for (host, port, url, same_message) in cases {
        let from_url = url.parse::<LbOpts>().expect_err(url);
        let from_builder = LbOpts::builder()
            .host(*host, *port)
            .build()
            .expect_err(host);
        assert_eq!(
            from_builder.kind(),
            from_url.kind(),
            "{host:?}:{port} vs {url}"
        );
        if *same_message {
            assert_eq!(
                from_builder.message(),
                from_url.message(),
                "{host:?}:{port} vs {url}"
            );
        }
        let with_role = LbOpts::builder()
            .mode(mysql_lb::Mode::Replication)
            .host_with_role(*host, *port, mysql_lb::Role::Source)
            .build()
            .expect_err(host);
        assert_eq!(with_role.kind(), from_url.kind(), "{host:?}:{port}");
    }
    // Good hosts still build, IPv6 with or without brackets.
    let opts = LbOpts::builder()
        .host("db1.example.com", 3306)
        .host("::1", 3307)
        .host("[fe80::2]", 3308)
        .host("10.0.0.1", 1)
        .build()
        .expect("good hosts");
    assert_eq!(opts.hosts().len(), 4);
}

/// `retries_all_down` takes 1 to 1000 from the builder as from a URL; 0 is not made 1.
#[test]
fn builder_checks_retries_all_down_like_urls() {
    for n in [0, 1001, u32::MAX] {
        let err = LbOpts::builder()
            .host("h1", 3306)
            .retries_all_down(n)
            .build()
            .expect_err("out of range");
        assert_eq!(err.kind(), &mysql_lb::UrlErrorKind::BadValue);
        assert!(err.to_string().contains("retries_all_down"), "{err}");
        assert!(err.to_string().contains("from 1 to 1000"), "{err}");
    }
    let err = LbOpts::builder()
        .host("h1", 3306)
        .retries_all_down(0)
        .build()
        .expect_err("0");
    assert!(err.to_string().contains("must be at least 1"), "{err}");
    let opts = LbOpts::builder()
        .host("h1", 3306)
        .retries_all_down(1000)
        .build()
        .expect("1000");
    assert_eq!(opts.retries_all_down(), 1000);
}
