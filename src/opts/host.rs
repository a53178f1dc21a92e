//! One host of a connection string: where it is ([`HostAddr`]) and what role it plays.

use std::fmt;

use crate::addr::HostAddr;

/// What a host is for in a replication set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "lowercase")
)]
pub enum Role {
    /// No role given: any statement may go there (load-balanced and failover URLs).
    Any,
    /// Takes writes (Connector/J `type=source`, formerly `master`).
    Source,
    /// Serves reads (Connector/J `type=replica`, formerly `slave`).
    Replica,
}

impl Role {
    /// The role's name as written in URLs and printed in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Any => "any",
            Role::Source => "source",
            Role::Replica => "replica",
        }
    }

    /// Reads a Connector/J `type=` value; the old names are accepted too.
    pub(crate) fn parse(value: &str) -> Option<Role> {
        match value.to_ascii_lowercase().as_str() {
            "source" | "master" | "primary" => Some(Role::Source),
            "replica" | "slave" | "secondary" => Some(Role::Replica),
            "any" => Some(Role::Any),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A host as listed in the connection string: its address and its role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostSpec {
    /// Where the server is.
    pub addr: HostAddr,
    /// What it is for.
    pub role: Role,
}

impl HostSpec {
    /// A host with a role.
    pub fn new(host: impl Into<String>, port: u16, role: Role) -> HostSpec {
        HostSpec {
            addr: HostAddr::new(host, port),
            role,
        }
    }
}
