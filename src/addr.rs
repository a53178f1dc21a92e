//! The address of one server: a host name or IP literal, and a TCP port.
//!
//! A host is identified by host name *and* port everywhere in this crate (the blacklist, the
//! response-time registry, duplicate detection): several servers on one IP are different
//! hosts. Connector/J once keyed its blacklist by host alone and so never matched. This is
//! the lowest layer: everything else names hosts this way.

use std::fmt;

/// The default MySQL port, used when a host is written without one.
pub const DEFAULT_PORT: u16 = 3306;

/// The address of one server: host name or IP literal, and TCP port.
///
/// Host names compare case-insensitively (they are stored lower-cased); IPv6 literals are
/// stored without brackets, in canonical form (RFC 5952), and printed with brackets.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostAddr {
    host: String,
    port: u16,
}

impl HostAddr {
    /// An address from a host name or IP literal (IPv6 without brackets) and a port.
    pub fn new(host: impl Into<String>, port: u16) -> HostAddr {
        let host: String = host.into();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .map(str::to_owned)
            .unwrap_or(host);
        // One IPv6 address has many spellings (`::1`, `0:0::1`): keep the canonical one, so
        // that duplicates are found and the blacklist has one key per server.
        let host = match host.parse::<std::net::Ipv6Addr>() {
            Ok(v6) => v6.to_string(),
            Err(_) => host.to_ascii_lowercase(),
        };
        HostAddr { host, port }
    }

    /// The host name or IP literal, IPv6 without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    fn is_ipv6(&self) -> bool {
        self.host.contains(':')
    }
}

impl fmt::Display for HostAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_ipv6() {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Debug for HostAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for HostAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
