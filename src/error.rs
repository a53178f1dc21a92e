//! The crate's one error type.
//!
//! Methods of [`mysql_async::prelude::Queryable`] must return `mysql_async::Error`; there our
//! errors travel inside `mysql_async::Error::Other`, and [`Error::from_mysql`] gets them back.
//! Errors never carry a password: URL errors name the bad *part* of the string, and the user
//! information part is never quoted.

use std::fmt;
use std::time::Duration;

use crate::addr::HostAddr;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The connection string or an option is wrong.
    #[error(transparent)]
    Url(#[from] UrlError),

    /// Every host was tried, none could be used. Lists each host and why.
    #[error("no host could be used: {0}")]
    AllHostsFailed(HostFailures),

    /// No host of the role a statement needs is configured or usable.
    #[error("no {role} host is available: {reason}")]
    NoHostForRole {
        /// `"source"`, `"replica"` or `"Galera node"`.
        role: &'static str,
        /// Why none is available.
        reason: String,
    },

    /// The connection was lost while a transaction was open, before any `COMMIT` of it was
    /// sent. Nothing of the transaction was committed (a server rolls back the transaction of
    /// a session that ends) and nothing was replayed: run the whole transaction again. The
    /// statement that got this error did not take effect; the next one starts on a healthy
    /// connection, in autocommit unless the handle's autocommit is off.
    #[error(
        "transaction lost: the connection to {host} was lost during a transaction ({cause}); \
         nothing of it was committed or replayed: run the transaction again"
    )]
    TransactionLost {
        /// The host that failed.
        host: HostAddr,
        /// What the driver reported.
        cause: Box<mysql_async::Error>,
    },

    /// `COMMIT` was sent and the connection failed before its answer came back, or the host
    /// answered that it failed without being able to say whether the rest of its cluster
    /// committed (a Galera node that lost quorum while it replicated the transaction, 1180):
    /// the transaction may or may not have committed, and nothing can tell from this side
    /// (Connector/J: "Transaction resolution unknown", SQLSTATE 08007). Check the data before
    /// running it again.
    #[error(
        "commit outcome unknown: COMMIT was sent to {host} and did not come back committed \
         or refused ({cause}); the transaction may or may not have committed"
    )]
    CommitUnknown {
        /// The host the `COMMIT` went to.
        host: HostAddr,
        /// What the driver reported.
        cause: Box<mysql_async::Error>,
    },

    /// The server rolled the transaction back and said so (error 1213): on a Galera cluster,
    /// a certification conflict with a transaction another node committed first (at
    /// `COMMIT`), or a brute-force abort by one (at any statement of the transaction); on
    /// any server, a deadlock. Nothing of the transaction was applied, on any node, and
    /// nothing was replayed: run the whole transaction again. The session is in autocommit
    /// again (the server ended the transaction; a `ROLLBACK` is harmless). Not the host's
    /// fault: it stays in rotation. With `galera_writers=single` conflicts between nodes do
    /// not happen.
    #[error(
        "transaction rolled back by the cluster on {host} (a certification conflict or a \
         deadlock: {cause}); nothing of it was applied: run it again from its start"
    )]
    TransactionRolledBack {
        /// The host that answered.
        host: HostAddr,
        /// The server's error.
        cause: Box<mysql_async::Error>,
    },

    /// The host failed while running a statement that may write, outside a transaction. The
    /// statement was not repeated elsewhere; whether it took effect is unknown.
    #[error(
        "host {host} failed during a statement that may write ({cause}); it was not retried \
         and may or may not have taken effect"
    )]
    WriteNotRetried {
        /// The host that failed.
        host: HostAddr,
        /// What the driver reported.
        cause: Box<mysql_async::Error>,
    },

    /// The connection was lost while the session held state that cannot move to another host
    /// (a temporary table, a user variable, a lock). That state is gone. The statement that
    /// got this error did not take effect (a statement that may have written gets
    /// [`Error::WriteNotRetried`] first, and this error comes at the next statement).
    #[error("session state lost: host {host} failed while the session held {what} ({cause})")]
    SessionLost {
        /// The host that failed.
        host: HostAddr,
        /// What was lost.
        what: &'static str,
        /// What the driver reported.
        cause: Box<mysql_async::Error>,
    },

    /// A network step took longer than its bound. The connection was dropped.
    #[error("{step} on host {host} took longer than {after:?}")]
    Timeout {
        /// The host.
        host: HostAddr,
        /// `"connect"`, `"statement"` or `"ping"`.
        step: &'static str,
        /// The bound that passed.
        after: Duration,
    },

    /// A prepared `Statement` that was not prepared on the handle's current connection (it
    /// came from a connection that is gone, or from another handle). Statement ids repeat
    /// across connections and servers, so it was not sent.
    #[error(
        "prepared statement belongs to another connection ({}); the handle is now on \
         {now_on}: prepare it again, or execute the SQL text, which re-prepares by itself",
        prepared_on.as_ref().map_or("not one of this handle's".to_owned(), |h| format!("an earlier one to {h}"))
    )]
    StaleStatement {
        /// Where the statement was prepared, if it was one of this handle's connections.
        prepared_on: Option<HostAddr>,
        /// Where the handle is now.
        now_on: HostAddr,
    },

    /// No pooled connection could be had within `acquire_timeout`: every usable host was at
    /// its limit of open connections (`pool_max`) the whole time.
    #[error(
        "no pooled connection within {after:?}: all {hosts} usable hosts are at pool_max ({busy} connections busy)"
    )]
    PoolExhausted {
        /// The bound that passed.
        after: Duration,
        /// Hosts that could have served (not blacklisted, not removed).
        hosts: usize,
        /// Connections checked out when it gave up.
        busy: usize,
    },

    /// A replica did not apply the pool's last write within `causal_read_timeout`. At a
    /// checkout the read goes to a source instead, and this is reported only when no source
    /// could take it either; a reader handle that must take a new connection mid-way (after a
    /// lost connection) reports it rather than read from a replica without the write.
    #[error("replica {host} did not reach GTID {gtid} within {after:?}")]
    CausalWait {
        /// The replica.
        host: HostAddr,
        /// The position waited for.
        gtid: String,
        /// The bound that passed.
        after: Duration,
    },

    /// TLS with a host failed: the server offered no TLS although `ssl_mode` requires it, or
    /// its certificate was refused (not signed by a trusted CA, not for the host's name,
    /// expired). Counted as that host's failure: it is blacklisted and the next host tried.
    #[error("TLS with {host} failed: {reason}")]
    Tls {
        /// The host.
        host: HostAddr,
        /// What did not match, and the driver's own words.
        reason: String,
    },

    /// The connect hook ([`crate::LbOptsBuilder::before_connect`]) failed or took longer than
    /// `connect_timeout`. Not held against the host.
    #[error("the connect hook failed for {host}: {source}")]
    ConnectHook {
        /// The host being connected to.
        host: HostAddr,
        /// The hook's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The DNS SRV records of a `+srv` URL could not be read when a connection or pool needed
    /// its first host list: no answer within `connect_timeout`, no such name, or no usable
    /// record. (Once a pool has hosts, a failed re-read keeps them and is only logged.)
    #[error("DNS SRV lookup of `{name}` failed: {reason}")]
    Srv {
        /// The SRV name looked up.
        name: String,
        /// What went wrong.
        reason: String,
    },

    /// The handle was closed with `disconnect()`.
    #[error("the connection was closed")]
    Closed,

    /// An error from `mysql_async`, passed on unchanged (SQL errors and the like).
    #[error(transparent)]
    Mysql(mysql_async::Error),
}

/// One of ours that travelled inside `mysql_async::Error::Other` comes back out as itself
/// (so `?` on a `Queryable` method never shows "Other error: transaction lost …").
impl From<mysql_async::Error> for Error {
    fn from(err: mysql_async::Error) -> Error {
        Error::from_mysql_owned(err)
    }
}

impl Error {
    /// Finds this crate's error inside a `mysql_async::Error` returned by a `Queryable` method.
    pub fn from_mysql(err: &mysql_async::Error) -> Option<&Error> {
        match err {
            mysql_async::Error::Other(inner) => inner.downcast_ref::<Error>(),
            _ => None,
        }
    }

    /// Takes this crate's error out of a `mysql_async::Error`, or wraps a plain one.
    pub fn from_mysql_owned(err: mysql_async::Error) -> Error {
        match err {
            mysql_async::Error::Other(inner) => match inner.downcast::<Error>() {
                Ok(ours) => *ours,
                Err(other) => Error::Mysql(mysql_async::Error::Other(other)),
            },
            e => Error::Mysql(e),
        }
    }

    /// Wraps this error for a `Queryable` method; a plain `mysql_async` error is unwrapped.
    pub fn into_mysql(self) -> mysql_async::Error {
        match self {
            Error::Mysql(e) => e,
            other => mysql_async::Error::Other(Box::new(other)),
        }
    }
}

/// What an error says about the data: did the statement (or, for a transaction, the whole
/// transaction) that returned it change anything?
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataOutcome {
    /// Nothing was changed: it is safe to run it again.
    NotApplied,
    /// It may or may not have taken effect: look at the data before running it again.
    Unknown,
}

impl Error {
    /// What `err`, returned by a statement of a [`crate::LoadBalancedConnection`], says about
    /// the data. This crate's errors answer exactly; an error the server sent (a syntax error,
    /// a duplicate key, a deadlock) means the statement did not take effect; a bare I/O error
    /// or timeout (only reads return those unwrapped) is `Unknown`, since nothing says more.
    pub fn outcome(err: &mysql_async::Error) -> DataOutcome {
        match Error::from_mysql(err) {
            // The server refused the write as read-only (`reject_read_only`): not applied.
            Some(Error::WriteNotRetried { cause, .. }) if is_read_only_refusal(cause) => {
                DataOutcome::NotApplied
            }
            Some(
                Error::CommitUnknown { .. } | Error::WriteNotRetried { .. } | Error::Timeout { .. },
            ) => DataOutcome::Unknown,
            Some(Error::Mysql(inner)) => Error::outcome(inner),
            Some(_) => DataOutcome::NotApplied,
            None => match err {
                mysql_async::Error::Server(_) | mysql_async::Error::Url(_) => {
                    DataOutcome::NotApplied
                }
                _ => DataOutcome::Unknown,
            },
        }
    }
}

/// The server's word that it rolled back the whole transaction: 1213 (`ER_LOCK_DEADLOCK`,
/// which Galera also returns for a certification conflict and a brute-force abort).
pub(crate) const ROLLED_BACK_CODE: u16 = 1213;

/// Whether `err` is the server's word that it rolled the transaction back.
pub(crate) fn is_rolled_back(err: &mysql_async::Error) -> bool {
    matches!(err, mysql_async::Error::Server(s) if s.code == ROLLED_BACK_CODE)
}

/// "Error during commit": what a Galera node answers when it lost quorum while it replicated
/// a commit ("not connected to Primary Component"). The rest of the cluster may have got the
/// write set and committed it, so the outcome is unknown; a host failure (see `checker.rs`),
/// which the lost-connection rule turns into `CommitUnknown` or `WriteNotRetried`.
pub(crate) const COMMIT_FAILED: u16 = 1180;

/// Whether `err` is a commit that failed on the server (see [`COMMIT_FAILED`]).
pub(crate) fn is_commit_failed(err: &mysql_async::Error) -> bool {
    matches!(err, mysql_async::Error::Server(s) if s.code == COMMIT_FAILED)
}

/// A Galera node's "WSREP has not yet prepared node for application use": it lost quorum,
/// or is still joining. A host failure (see `checker.rs`).
pub(crate) const WSREP_NOT_READY: u16 = 1047;

/// Whether `err` is a Galera node's refusal for not being ready.
pub(crate) fn is_not_ready(err: &mysql_async::Error) -> bool {
    matches!(err, mysql_async::Error::Server(s) if s.code == WSREP_NOT_READY)
}

/// Server errors that say "this server takes no writes now": 1290 (`--read-only`), 1792 (a
/// read-only transaction, as an Aurora reader answers), 1836 (read-only mode).
pub(crate) const READ_ONLY_CODES: [u16; 3] = [1290, 1792, 1836];

/// Whether `err` is a server's refusal of a write as read-only.
pub(crate) fn is_read_only_refusal(err: &mysql_async::Error) -> bool {
    matches!(err, mysql_async::Error::Server(s) if READ_ONLY_CODES.contains(&s.code))
}

/// Why each host failed, in the order they were tried.
#[derive(Debug, Default)]
pub struct HostFailures(pub Vec<(HostAddr, String)>);

impl fmt::Display for HostFailures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("no hosts were tried");
        }
        for (i, (host, why)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{host}: {why}")?;
        }
        Ok(())
    }
}

/// What is wrong with a connection string or an option.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UrlErrorKind {
    /// The scheme is not one of the accepted ones.
    UnknownScheme,
    /// No host is listed.
    EmptyHostList,
    /// A host name is malformed.
    BadHost,
    /// A port is not a number from 1 to 65535.
    BadPort,
    /// An IPv6 literal is malformed or not in brackets.
    BadIpv6,
    /// The same host and port is listed twice.
    DuplicateHost,
    /// The `user:password@` part is malformed.
    BadUserInfo,
    /// The database part is malformed.
    BadDatabase,
    /// An option name is not known.
    UnknownOption,
    /// An option's value is not allowed.
    BadValue,
    /// Two options, or an option and the host list, contradict each other.
    Conflict,
    /// Well-formed but not supported by this crate.
    Unsupported,
}

/// A bad connection string or option. [`UrlError::part`] is the offending piece of the input
/// (never the password).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlError {
    kind: UrlErrorKind,
    part: String,
    message: String,
}

impl UrlError {
    pub(crate) fn new(
        kind: UrlErrorKind,
        part: impl Into<String>,
        message: impl Into<String>,
    ) -> UrlError {
        UrlError {
            kind,
            part: part.into(),
            message: message.into(),
        }
    }

    /// What kind of mistake this is.
    pub fn kind(&self) -> &UrlErrorKind {
        &self.kind
    }

    /// The part of the input that is wrong (a host, an option name, a value).
    pub fn part(&self) -> &str {
        &self.part
    }

    /// The explanation, without the part.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.part.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "`{}`: {}", self.part, self.message)
        }
    }
}

impl std::error::Error for UrlError {}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn question_mark_unwraps_ours() {
        let e: Error = Error::Closed.into_mysql().into();
        assert!(matches!(e, Error::Closed), "{e:?}");
        let plain: Error =
            mysql_async::Error::Driver(mysql_async::DriverError::ConnectionClosed).into();
        assert!(matches!(plain, Error::Mysql(_)));
        assert!(!plain.to_string().starts_with("Other error"));
    }
}
