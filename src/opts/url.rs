//! The multi-host URL parser.
//!
//! `url::Url` (and so `mysql_async::Opts::from_url`) takes one host, so the authority is
//! split here: `scheme://[user[:password]@]host[,host…][/database][?options]`. Commas and
//! slashes inside `address=(…)`, `(…)` and `[…]` do not split. Every error names the part of
//! the input that is wrong; the user-information part is never quoted, so a password cannot
//! leak into an error. An unencoded password can still spill into other parts: a `?` in it
//! moves the start of the options (so when an `@` follows the first `?`, a failing URL quotes
//! nothing), and a `&` in `password=` starts a new parameter (so a parameter right after
//! `password=` that is not an option is not quoted either).

use std::net::{Ipv4Addr, Ipv6Addr};

use percent_encoding::percent_decode_str;

use super::table;
use super::{DEFAULT_PORT, HostSpec, LbOpts, LbOptsBuilder, Mode, Role};
use crate::error::{UrlError, UrlErrorKind};

const SCHEMES: &str = "mysql://, mariadb://, [jdbc:]mysql:loadbalance://, \
    [jdbc:]mysql:replication://, [jdbc:]mysql:failover://, [jdbc:]mysql:galera://, jdbc:mysql://, \
    the same with mariadb, and with +srv (mysql+srv://, jdbc:mysql+srv:loadbalance://)";

/// Parses a whole connection string.
pub(super) fn parse(input: &str) -> Result<LbOpts, UrlError> {
    let s = input.trim();
    let no_scheme = || {
        UrlError::new(
            UrlErrorKind::UnknownScheme,
            "",
            format!("no `scheme://` at the start; accepted: {SCHEMES}"),
        )
    };
    let (scheme, rest) = s.split_once("://").ok_or_else(no_scheme)?;
    // A `://` found later (in an option value) leaves user:password@ in `scheme`: not quoted.
    if !scheme
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.' | ':'))
    {
        return Err(no_scheme());
    }
    let mut b = LbOpts::builder();
    let (mode, srv) = scheme_mode(scheme)?;
    b.mode(mode);
    if srv && !cfg!(feature = "srv") {
        return Err(super::srv_feature_off(scheme));
    }

    if rest.contains('#') {
        return Err(UrlError::new(
            UrlErrorKind::Unsupported,
            "#",
            "a URL fragment (#…) is not allowed; write # in a password as %23",
        ));
    }
    parse_authority_on(b, rest, srv).map_err(|e| {
        if question_then_at(rest) {
            ambiguous_error(rest, &e)
        } else {
            e
        }
    })
}

/// Whether an `@` follows the first `?`. Then the `?` may sit in an unencoded user name or
/// password, and the host list, the database and the options may all hold pieces of it.
fn question_then_at(rest: &str) -> bool {
    rest.find('?').is_some_and(|q| rest[q..].contains('@'))
}

/// The error for a URL that failed while an `@` follows the `?`: nothing of the URL is quoted.
/// When the text after the last `@` starts with a good host list, the `?` most likely sits in
/// the user information, and the error says so; otherwise it keeps the kind of `e`.
fn ambiguous_error(rest: &str, e: &UrlError) -> UrlError {
    let after = rest.rfind('@').map_or("", |at| &rest[at + 1..]);
    let hosts = &after[..after.find('?').unwrap_or(after.len())];
    let hosts = &hosts[..top_level_find(hosts, &['/']).unwrap_or(hosts.len())];
    let hosts_ok = !hosts.trim().is_empty()
        && split_top_level(hosts, ',')
            .iter()
            .all(|h| parse_host(h.trim()).is_ok());
    if hosts_ok {
        return question_in_userinfo_error();
    }
    let what = match e.kind() {
        UrlErrorKind::UnknownScheme => "the scheme is unknown",
        UrlErrorKind::EmptyHostList => "no host is given",
        UrlErrorKind::BadHost => "a host is malformed",
        UrlErrorKind::BadPort => "a port is malformed",
        UrlErrorKind::BadIpv6 => "an IPv6 address is malformed",
        UrlErrorKind::DuplicateHost => "a host is listed twice",
        UrlErrorKind::BadUserInfo => "the user information is malformed",
        UrlErrorKind::BadDatabase => "the database name is malformed",
        UrlErrorKind::UnknownOption => "an option is unknown",
        UrlErrorKind::BadValue => "an option has a bad value",
        UrlErrorKind::Conflict => "options contradict each other",
        _ => "the URL is malformed",
    };
    UrlError::new(
        e.kind().clone(),
        "",
        format!(
            "{what}; nothing is quoted, because an `@` follows the `?`: if the user name or \
             password holds a `?`, write it %3F, or the rest of the URL holds pieces of it"
        ),
    )
}

/// Everything after `scheme://`.
fn parse_authority_on(mut b: LbOptsBuilder, rest: &str, srv: bool) -> Result<LbOpts, UrlError> {
    // The user information ends at the last `@` before the query: passwords may hold `/`.
    let query_at = rest.find('?');
    let before_query = query_at.unwrap_or(rest.len());
    let at = rest[..before_query].rfind('@');
    // No `@` before the first `?` but one after it: the `?` may sit in an unencoded password,
    // and then the host list and the first option name hold pieces of it. If either is bad,
    // say so without quoting them.
    let question_in_userinfo = at.is_none() && query_at.is_some_and(|q| rest[q..].contains('@'));
    if question_in_userinfo {
        let q = before_query + 1;
        let first_key_end = rest[q..].find(['=', '&']).map_or(rest.len(), |i| q + i);
        if rest[q..first_key_end].contains('@') {
            return Err(question_in_userinfo_error());
        }
    }
    let (userinfo, rest) = match at {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    };
    let mut user_from_authority = false;
    let mut password_from_authority = false;
    if let Some(info) = userinfo {
        let (user, pass) = match info.split_once(':') {
            Some((u, p)) => (u, Some(p)),
            None => (info, None),
        };
        let user = decode(user).map_err(|_| bad_userinfo())?;
        if user.is_empty() && pass.is_some() {
            return Err(bad_userinfo());
        }
        if !user.is_empty() {
            b.user(user);
            user_from_authority = true;
        }
        if let Some(p) = pass {
            b.password(decode(p).map_err(|_| bad_userinfo())?);
            password_from_authority = true;
        }
    }

    // The host list ends at the first `/` outside brackets, and always at the first `?`: with
    // an unclosed `(` or `[` the options (and a password among them) must not become part of
    // a host, which an error would quote.
    let query_at = rest.find('?').unwrap_or(rest.len());
    let host_end = top_level_find(&rest[..query_at], &['/']).unwrap_or(query_at);
    let (host_list, rest) = rest.split_at(host_end);
    if srv {
        b.srv(srv_name(host_list)?);
    }
    for item in split_top_level(host_list, ',').into_iter().filter(|_| !srv) {
        if item.trim().is_empty() {
            if host_list.trim().is_empty() {
                break;
            }
            return Err(UrlError::new(
                UrlErrorKind::BadHost,
                host_list,
                "empty entry in the host list (two commas in a row, or a comma at an end)",
            ));
        }
        // With `question_in_userinfo`, `parse` turns an error into one that quotes nothing.
        let spec = parse_host(item.trim())?;
        b.opts.hosts.push(spec);
    }

    let (path, query) = match rest.find('?') {
        Some(q) => (&rest[..q], Some(&rest[q + 1..])),
        None => (rest, None),
    };
    let db = path.strip_prefix('/').unwrap_or(path);
    if !db.is_empty() {
        let name = decode(db).map_err(|_| {
            UrlError::new(
                UrlErrorKind::BadDatabase,
                db,
                "database name is not valid UTF-8",
            )
        })?;
        if name.contains('/') {
            return Err(UrlError::new(
                UrlErrorKind::BadDatabase,
                db,
                "a database name is one path segment of at most 64 characters",
            ));
        }
        check_database(db, &name)?;
        b.database(name);
    }

    if let Some(q) = query {
        apply_query(&mut b, q, user_from_authority, password_from_authority)?;
    }
    b.build()
}

/// What MariaDB and MySQL take as a database name, and what survives the handshake: at most
/// 64 characters, none of them a control character (a NUL would end the name early in the
/// handshake), none outside the Basic Multilingual Plane, no space at the end. `part` is what
/// the error quotes: the name as written in the URL, or escaped (builder).
pub(super) fn check_database(part: &str, name: &str) -> Result<(), UrlError> {
    let bad = |why: String| Err(UrlError::new(UrlErrorKind::BadDatabase, part, why));
    if name.is_empty() {
        return bad("the database name is empty".to_owned());
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return bad(format!(
            "a database name must not hold a control character (here U+{:04X})",
            c as u32
        ));
    }
    if name.chars().count() > 64 {
        return bad("a database name is one path segment of at most 64 characters".to_owned());
    }
    if let Some(c) = name.chars().find(|&c| c > '\u{FFFF}') {
        return bad(format!(
            "a database name may hold characters up to U+FFFF only (here U+{:X})",
            c as u32
        ));
    }
    if name.ends_with(' ') {
        return bad("a database name must not end with a space".to_owned());
    }
    Ok(())
}

fn bad_userinfo() -> UrlError {
    UrlError::new(
        UrlErrorKind::BadUserInfo,
        "user:password@",
        "malformed user information (percent-encode special characters; the user name must not be empty)",
    )
}

/// A parameter right after `password=` is no option: maybe a typo, maybe the rest of a
/// password with an unencoded `&`. It is not quoted; a known name it is near is suggested.
fn split_password_error(key: Option<&str>) -> UrlError {
    let typo = key
        .and_then(table::suggestion)
        .map(|k| format!(" (if it is a typo: did you mean `{k}`?)"))
        .unwrap_or_default();
    UrlError::new(
        UrlErrorKind::BadValue,
        "password=…",
        format!(
            "an option without `=`, or an unknown one, follows `password=`{typo}: a `&` in a \
             password must be percent-encoded as %26 (nothing is quoted, in case it is part of \
             the password)"
        ),
    )
}

fn question_in_userinfo_error() -> UrlError {
    UrlError::new(
        UrlErrorKind::BadUserInfo,
        "user:password@",
        "the URL is malformed and an `@` follows the `?`: a `?` in the user name or password \
         must be written %3F (nothing is quoted, in case it is a password)",
    )
}

/// The host part of a `+srv` URL: one DNS SRV name, as Connector/J takes it (its "Support for
/// DNS SRV Records": more than one host, or a port, is an error; replication, which takes
/// two names there, is refused by `build`).
fn srv_name(host_list: &str) -> Result<String, UrlError> {
    let name = host_list.trim();
    if name.is_empty() {
        return Err(UrlError::new(
            UrlErrorKind::EmptyHostList,
            "",
            "no SRV name given: a +srv URL names one, e.g. mysql+srv://user@_mysql._tcp.example.com/db",
        ));
    }
    if split_top_level(name, ',').len() > 1 {
        return Err(UrlError::new(
            UrlErrorKind::BadHost,
            name,
            "a +srv URL names exactly one DNS SRV name, whose records list the hosts",
        ));
    }
    if name.starts_with("address=") || name.starts_with('(') || name.starts_with('[') {
        return Err(UrlError::new(
            UrlErrorKind::BadHost,
            name,
            "a +srv URL names a DNS SRV name (_mysql._tcp.example.com), not an address",
        ));
    }
    if let Some((_, port)) = name.split_once(':') {
        return Err(UrlError::new(
            UrlErrorKind::BadPort,
            name,
            format!(
                "a DNS SRV name takes no port (here `{port}`): each SRV record gives its host's"
            ),
        ));
    }
    check_srv_name(name, name)?;
    Ok(name.to_owned())
}

/// Checks a DNS SRV name: a host name (labels of letters, digits, `-` and `_`), optionally
/// with the root's trailing dot. Like Connector/J, the `_service._proto.` prefix is not
/// required: the name is looked up as given. `item` is what errors quote.
pub(super) fn check_srv_name(item: &str, name: &str) -> Result<(), UrlError> {
    let bare = name.strip_suffix('.').unwrap_or(name);
    if bare.parse::<Ipv4Addr>().is_ok() || bare.contains(':') {
        return Err(UrlError::new(
            UrlErrorKind::BadHost,
            item,
            "a +srv URL names a DNS SRV name (_mysql._tcp.example.com), not an IP address",
        ));
    }
    check_hostname(item, bare)
}

/// The mode a scheme asks for, and whether it is a `+srv` one (`mysql+srv:loadbalance`).
fn scheme_mode(scheme: &str) -> Result<(Mode, bool), UrlError> {
    let lower = scheme.to_ascii_lowercase();
    let (jdbc, rest) = match lower.strip_prefix("jdbc:") {
        Some(r) => (true, r),
        None => (false, lower.as_str()),
    };
    // `+srv` sits on the protocol, before any `:loadbalance`: mysql+srv:loadbalance.
    let (protocol, sub) = match rest.split_once(':') {
        Some((p, s)) => (p, Some(s)),
        None => (rest, None),
    };
    let (srv, protocol) = match protocol.strip_suffix("+srv") {
        Some(p) => (true, p),
        None => (false, protocol),
    };
    let plain = match sub {
        Some(s) => format!("{protocol}:{s}"),
        None => protocol.to_owned(),
    };
    let mode = match plain.as_str() {
        "mysql" | "mariadb" if jdbc => Mode::Failover,
        "mysql" | "mariadb" => Mode::LoadBalance,
        "mysql:loadbalance" | "mariadb:loadbalance" => Mode::LoadBalance,
        "mysql:replication" | "mariadb:replication" => Mode::Replication,
        "mysql:failover" | "mariadb:failover" | "mariadb:sequential" => Mode::Failover,
        "mysql:galera" | "mariadb:galera" => Mode::Galera,
        _ => {
            return Err(UrlError::new(
                UrlErrorKind::UnknownScheme,
                scheme,
                format!("unknown scheme; accepted: {SCHEMES}"),
            ));
        }
    };
    if srv && matches!(mode, Mode::Replication | Mode::Galera) {
        // Said here, with the scheme quoted, before the feature or the host part matter.
        return Err(UrlError::new(
            UrlErrorKind::Unsupported,
            scheme,
            if mode == Mode::Replication {
                "replication over DNS SRV is not supported yet (Connector/J takes two SRV \
                 names, one for sources and one for replicas): list the hosts with \
                 mysql:replication://"
            } else {
                "a Galera cluster over DNS SRV is not supported yet: list the nodes with \
                 mysql:galera://"
            },
        ));
    }
    Ok((mode, srv))
}

fn apply_query(
    b: &mut LbOptsBuilder,
    query: &str,
    user_set: bool,
    password_set: bool,
) -> Result<(), UrlError> {
    let mut given: Vec<(&'static str, String)> = Vec::new();
    let mut previous_was_password = false;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        // Right after `password=`, a pair that is no option may be the rest of a password
        // with an unencoded `&`: it is not quoted.
        let after_password = std::mem::replace(&mut previous_was_password, false);
        if after_password && !pair.contains('=') {
            return Err(split_password_error(None));
        }
        let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode(raw_key).map_err(|_| {
            if after_password {
                return split_password_error(None);
            }
            UrlError::new(
                UrlErrorKind::UnknownOption,
                raw_key,
                "option name is not valid UTF-8",
            )
        })?;
        let is_password = key == "password";
        let value = decode(raw_value).map_err(|_| {
            if after_password {
                return split_password_error(None);
            }
            let part = if is_password { "password=…" } else { pair };
            UrlError::new(UrlErrorKind::BadValue, part, "value is not valid UTF-8")
        })?;
        previous_was_password = is_password;
        match key.as_str() {
            "user" | "password" => {
                let (already, what) = if is_password {
                    (password_set, "password")
                } else {
                    (user_set, "user")
                };
                if already || given.iter().any(|(n, _)| *n == what) {
                    return Err(UrlError::new(
                        UrlErrorKind::Conflict,
                        what,
                        format!("{what} given twice (in user:password@ and as a parameter)"),
                    ));
                }
                given.push((if is_password { "password" } else { "user" }, key.clone()));
                if is_password {
                    b.password(value);
                } else if value.is_empty() {
                    return Err(UrlError::new(
                        UrlErrorKind::BadValue,
                        "user=",
                        "user must not be empty",
                    ));
                } else {
                    b.user(value);
                }
            }
            _ => match table::find(&key) {
                Some((def, units)) => {
                    if let Some((_, first)) = given.iter().find(|(n, _)| *n == def.name) {
                        return Err(UrlError::new(
                            UrlErrorKind::Conflict,
                            key.clone(),
                            format!("{key} sets the same option as {first}, given earlier"),
                        ));
                    }
                    given.push((def.name, key.clone()));
                    def.apply(b, &key, &value, units)?;
                }
                None if table::PASS_THROUGH.contains(&key.as_str()) || table::is_refused(&key) => {
                    b.pass_through(key, value);
                }
                None if after_password => return Err(split_password_error(Some(&key))),
                None => return Err(table::unknown_option(&key)),
            },
        }
    }
    Ok(())
}

/// Parses one host entry: `h`, `h:p`, `[v6]:p`, `address=(host=h)(port=p)(type=t)` or
/// `(host=h,port=p,type=t)`.
pub(super) fn parse_host(item: &str) -> Result<HostSpec, UrlError> {
    if let Some(groups) = item.strip_prefix("address=") {
        let mut pairs = Vec::new();
        let mut rest = groups;
        while !rest.is_empty() {
            let inner = rest
                .strip_prefix('(')
                .and_then(|r| r.find(')').map(|end| (&r[..end], &r[end + 1..])));
            match inner {
                Some((kv, after)) => {
                    pairs.push(kv);
                    rest = after;
                }
                None => {
                    return Err(UrlError::new(
                        UrlErrorKind::BadHost,
                        item,
                        "expected address=(host=…)(port=…)(type=…)",
                    ));
                }
            }
        }
        return host_from_pairs(item, pairs);
    }
    if let Some(inner) = item.strip_prefix('(') {
        let inner = inner.strip_suffix(')').ok_or_else(|| {
            UrlError::new(
                UrlErrorKind::BadHost,
                item,
                "unclosed `(`: expected (host=…,port=…,type=…)",
            )
        })?;
        return host_from_pairs(item, inner.split(',').collect());
    }
    let (host, port) = if let Some(v6) = item.strip_prefix('[') {
        let (addr, after) = v6.split_once(']').ok_or_else(|| {
            UrlError::new(
                UrlErrorKind::BadIpv6,
                item,
                "unclosed `[` in an IPv6 address",
            )
        })?;
        check_ipv6(item, addr)?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or_else(|| {
                UrlError::new(UrlErrorKind::BadIpv6, item, "expected `:port` after `]`")
            })?),
        };
        (addr, port)
    } else {
        match item.matches(':').count() {
            0 => (item, None),
            1 => {
                let (h, p) = item.split_once(':').unwrap_or((item, ""));
                (h, Some(p))
            }
            _ => {
                return Err(UrlError::new(
                    UrlErrorKind::BadIpv6,
                    item,
                    "an IPv6 address must be in brackets, e.g. [::1]:3306",
                ));
            }
        }
    };
    if !item.starts_with('[') {
        check_host(item, host)?;
    }
    let port = match port {
        Some(p) => parse_port(item, p)?,
        None => DEFAULT_PORT,
    };
    Ok(HostSpec::new(host, port, Role::Any))
}

fn host_from_pairs(item: &str, pairs: Vec<&str>) -> Result<HostSpec, UrlError> {
    let (mut host, mut port, mut role) = (None, DEFAULT_PORT, Role::Any);
    let mut seen = Vec::new();
    for kv in pairs {
        let (k, v) = kv.split_once('=').ok_or_else(|| {
            UrlError::new(
                UrlErrorKind::BadHost,
                item,
                format!("`{kv}` is not key=value"),
            )
        })?;
        let key = k.trim().to_ascii_lowercase();
        if seen.contains(&key) {
            return Err(UrlError::new(
                UrlErrorKind::BadHost,
                item,
                format!("`{key}` given twice in one host"),
            ));
        }
        seen.push(key.clone());
        match key.as_str() {
            "host" => host = Some(v.trim()),
            "port" => port = parse_port(item, v.trim())?,
            "type" => {
                role = Role::parse(v.trim()).ok_or_else(|| {
                    UrlError::new(
                        UrlErrorKind::BadValue,
                        format!("type={v}"),
                        "host type must be source or replica (master and slave are accepted too)",
                    )
                })?
            }
            "protocol" if v.trim().eq_ignore_ascii_case("tcp") => {}
            other => {
                return Err(UrlError::new(
                    UrlErrorKind::BadHost,
                    item,
                    format!("unknown host property `{other}`: use host, port and type"),
                ));
            }
        }
    }
    let host =
        host.ok_or_else(|| UrlError::new(UrlErrorKind::BadHost, item, "host=… is missing"))?;
    check_host(item, host)?;
    Ok(HostSpec::new(host, port, role))
}

/// Checks a host name or IP literal, IPv6 with or without brackets: the one rule for hosts,
/// used by the URL parser and by [`LbOptsBuilder::build`]. `item` is what errors quote.
pub(super) fn check_host(item: &str, host: &str) -> Result<(), UrlError> {
    match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => check_ipv6(item, v6),
        None if host.contains(':') => check_ipv6(item, host),
        None => check_hostname(item, host),
    }
}

fn check_ipv6(item: &str, addr: &str) -> Result<(), UrlError> {
    addr.parse::<Ipv6Addr>().map(drop).map_err(|_| {
        UrlError::new(
            UrlErrorKind::BadIpv6,
            item,
            format!("`{addr}` is not an IPv6 address"),
        )
    })
}

fn check_hostname(item: &str, host: &str) -> Result<(), UrlError> {
    let bad = |why: &str| UrlError::new(UrlErrorKind::BadHost, item, why.to_owned());
    if host.is_empty() {
        return Err(bad("host name is empty"));
    }
    if host.len() > 253 {
        return Err(bad("host name is longer than 253 characters"));
    }
    let numeric = host.chars().all(|c| c.is_ascii_digit() || c == '.');
    if numeric && host.parse::<Ipv4Addr>().is_err() {
        return Err(bad("not a valid IPv4 address"));
    }
    for label in host.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(bad("each dot-separated label must be 1 to 63 characters"));
        }
        if !label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(bad(
                "host names may hold letters, digits, `-`, `_` and `.` only",
            ));
        }
    }
    Ok(())
}

fn parse_port(item: &str, port: &str) -> Result<u16, UrlError> {
    match port.parse::<u16>() {
        Ok(p) if port.chars().all(|c| c.is_ascii_digit()) => check_port(item, p),
        _ => Err(bad_port(item, port)),
    }
}

/// The one rule for ports (URL parser and builder): 0 is not one.
pub(super) fn check_port(item: &str, port: u16) -> Result<u16, UrlError> {
    if port == 0 {
        return Err(bad_port(item, "0"));
    }
    Ok(port)
}

fn bad_port(item: &str, port: &str) -> UrlError {
    UrlError::new(
        UrlErrorKind::BadPort,
        item,
        format!("port `{port}` must be a number from 1 to 65535"),
    )
}

fn decode(s: &str) -> Result<String, std::str::Utf8Error> {
    percent_decode_str(s).decode_utf8().map(|c| c.into_owned())
}

/// The first of `chars` outside brackets and parentheses.
fn top_level_find(s: &str, chars: &[char]) -> Option<usize> {
    let mut depth = 0i32;
    for (i, c) in s.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            c if depth <= 0 && chars.contains(&c) => return Some(i),
            _ => {}
        }
    }
    None
}

fn split_top_level(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = s;
    while let Some(i) = top_level_find(rest, &[sep]) {
        parts.push(&rest[..i]);
        rest = &rest[i + sep.len_utf8()..];
    }
    parts.push(rest);
    parts
}

#[cfg(all(test, not(feature = "srv")))]
mod tests {
    use crate::error::UrlErrorKind;
    use crate::opts::LbOpts;

    #[test]
    fn srv_schemes_say_to_enable_the_feature() {
        for url in [
            "mysql+srv://app:Secret-9@_mysql._tcp.example.com/db",
            "jdbc:mysql+srv:loadbalance://_mysql._tcp.example.com/db",
        ] {
            let err = url.parse::<LbOpts>().unwrap_err();
            assert_eq!(err.kind(), &UrlErrorKind::Unsupported, "{err}");
            assert!(err.to_string().contains("feature `srv`"), "{err}");
            assert!(!err.to_string().contains("Secret-9"));
        }
        let err = LbOpts::builder()
            .srv("_mysql._tcp.example.com")
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("feature `srv`"), "{err}");
    }
}
