//! The exception checker: does this error mean "the host is bad"?
//!
//! Two questions follow every error, and they are kept apart: is *this connection* dead (the
//! handle looks at `Conn::is_disconnected` itself), and is the *host* at fault, so that it is
//! blacklisted and traffic moves elsewhere. The checker answers only the second. As in
//! Connector/J's `shouldExceptionTriggerFailover`, the error is still returned to the caller;
//! the checker only decides where the next statement goes.
//!
//! [`StandardChecker`] says yes for I/O errors, a closed connection, protocol desyncs, timeouts,
//! a TLS handshake the host failed (its certificate refused, no TLS offered),
//! SQLSTATE class `08` (connection exceptions), and server errors that mean the server cannot
//! serve: 1040 too many connections, 1047 a Galera node not ready for application use (it
//! lost quorum, or is still joining; `08S01` says so too, but the code is what Galera
//! documents), 1180 an error during commit (a Galera node that lost quorum while it
//! replicated the commit: the cluster may have committed it, so the caller must hear that
//! the outcome is unknown, which the lost-connection rule says for a failed host), 1053 shutdown in progress, 1077/1078/1079/1080 normal
//! shutdown, 1129 host blocked, 1152/1184 aborted connection, 1927 connection killed, 4031 idle
//! disconnect (MySQL 8.0.24+). It says no for access denied (1044, 1045: a bad password is not
//! a host failure and would otherwise blacklist every host in turn), unknown database (1049),
//! and every ordinary SQL error (syntax, constraints, read-only: 1290 is a policy choice, see
//! the example on [`ExceptionChecker`]; and deadlocks, 1213, which on Galera include
//! certification conflicts: the transaction is rolled back on every node, and the host is
//! fine).
//!
//! Two server errors carry a class-`08` SQLSTATE without saying anything about the host:
//! 1644, an error the user's own SQL raised with `SIGNAL` (a procedure may well signal
//! `08S01`; the server answered, so it is up), and 1153, a packet larger than
//! `max_allowed_packet` (the statement's fault; every host would say the same); and 3159, a
//! plain-text login refused by `require_secure_transport` (the client's `ssl_mode`; every such
//! host says the same, as with a bad password). None counts unless listed in `failover_codes`.

use std::io::ErrorKind;

use mysql_async::{DriverError, Error as MyError};

/// Decides whether an error is the host's fault.
///
/// A closure works as a checker. The option `reject_read_only` treats "server is read-only"
/// (1290, 1792, 1836) as a host failure; to do the same for other codes, wrap the standard
/// checker:
///
/// ```
/// use std::sync::Arc;
/// use mysql_lb::{ExceptionChecker, StandardChecker};
///
/// let standard = StandardChecker::default();
/// let checker = move |e: &mysql_async::Error| {
///     standard.is_host_failure(e)
///         || matches!(e, mysql_async::Error::Server(s) if s.code == 1290 || s.code == 1836)
/// };
/// let mut b = mysql_lb::LbOpts::builder();
/// b.host("db1", 3306).exception_checker(Arc::new(checker));
/// ```
pub trait ExceptionChecker: Send + Sync {
    /// True when `err` means the host should be blacklisted and left.
    fn is_host_failure(&self, err: &MyError) -> bool;
}

impl<F> ExceptionChecker for F
where
    F: Fn(&MyError) -> bool + Send + Sync,
{
    fn is_host_failure(&self, err: &MyError) -> bool {
        self(err)
    }
}

/// Server error codes that mean the server cannot serve this client now.
const HOST_CODES: &[u16] = &[
    1040,
    crate::error::WSREP_NOT_READY,
    1053,
    crate::error::COMMIT_FAILED,
    1077,
    1078,
    1079,
    1080,
    1129,
    1152,
    1184,
    1927,
    4031,
];

/// Server error codes whose SQLSTATE says "connection" but that are not the host's fault
/// (see the module docs).
const NOT_HOST_CODES: &[u16] = &[1153, 1644, 3159];

/// The default checker, extended by `failover_sqlstates` and `failover_codes`.
#[derive(Debug, Clone, Default)]
pub struct StandardChecker {
    sqlstate_prefixes: Vec<String>,
    codes: Vec<u16>,
}

impl StandardChecker {
    /// The standard rules plus more SQLSTATE prefixes and error codes.
    pub fn with_extra(sqlstate_prefixes: Vec<String>, codes: Vec<u16>) -> StandardChecker {
        StandardChecker {
            sqlstate_prefixes,
            codes,
        }
    }
}

impl ExceptionChecker for StandardChecker {
    fn is_host_failure(&self, err: &MyError) -> bool {
        match err {
            MyError::Io(_) => true,
            MyError::Driver(d) => matches!(
                d,
                DriverError::ConnectionClosed
                    | DriverError::PacketOutOfOrder
                    | DriverError::UnexpectedPacket { .. }
                    | DriverError::BadCompressedPacketHeader
            ),
            MyError::Server(s) if self.codes.contains(&s.code) => true,
            MyError::Server(s) if NOT_HOST_CODES.contains(&s.code) => false,
            MyError::Server(s) => {
                s.state.starts_with("08")
                    || HOST_CODES.contains(&s.code)
                    || self
                        .sqlstate_prefixes
                        .iter()
                        .any(|p| s.state.starts_with(p.as_str()))
            }
            MyError::Other(inner) => match inner.downcast_ref::<crate::Error>() {
                Some(crate::Error::Timeout { .. } | crate::Error::Tls { .. }) => true,
                Some(crate::Error::Mysql(e)) => self.is_host_failure(e),
                _ => inner
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == ErrorKind::TimedOut),
            },
            MyError::Url(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mysql_async::{IoError, ServerError};

    fn server(code: u16, state: &str) -> MyError {
        MyError::Server(ServerError {
            code,
            message: "m".into(),
            state: state.into(),
        })
    }

    #[test]
    fn standard_rules() {
        let c = StandardChecker::default();
        let io = MyError::Io(IoError::Io(std::io::Error::from(
            ErrorKind::ConnectionRefused,
        )));
        assert!(c.is_host_failure(&io));
        assert!(c.is_host_failure(&MyError::Driver(DriverError::ConnectionClosed)));
        assert!(c.is_host_failure(&server(1040, "08004")));
        // A Galera node without quorum; whatever SQLSTATE a server gives it.
        assert!(c.is_host_failure(&server(1047, "08S01")));
        assert!(c.is_host_failure(&server(1047, "HY000")));
        // A commit that failed on a node without quorum: its outcome is unknown.
        assert!(c.is_host_failure(&server(1180, "HY000")));
        // A certification conflict: the transaction's, not the host's.
        assert!(!c.is_host_failure(&server(1213, "40001")));
        assert!(c.is_host_failure(&server(1053, "08S01")));
        assert!(c.is_host_failure(&server(1927, "70100")));
        assert!(c.is_host_failure(&server(4031, "HY000")));
        assert!(c.is_host_failure(&server(9999, "08S01")));
        assert!(!c.is_host_failure(&server(1045, "28000")));
        assert!(!c.is_host_failure(&server(1049, "42000")));
        assert!(!c.is_host_failure(&server(1064, "42000")));
        assert!(!c.is_host_failure(&server(1062, "23000")));
        assert!(!c.is_host_failure(&server(1290, "HY000")));
        assert!(!c.is_host_failure(&server(1317, "70100")));
        // The user's SIGNAL and an oversized packet say nothing of the host.
        assert!(!c.is_host_failure(&server(1644, "08S01")));
        assert!(!c.is_host_failure(&server(1153, "08S01")));
        assert!(
            StandardChecker::with_extra(vec![], vec![1644]).is_host_failure(&server(1644, "08S01"))
        );
    }

    #[test]
    fn extras_extend() {
        let c = StandardChecker::with_extra(vec!["HY".into()], vec![1290]);
        assert!(c.is_host_failure(&server(1290, "HY000")));
        assert!(c.is_host_failure(&server(1234, "HY001")));
        assert!(!c.is_host_failure(&server(1064, "42000")));
    }

    #[test]
    fn timeouts_count() {
        let c = StandardChecker::default();
        let t = crate::Error::Timeout {
            host: crate::HostAddr::new("h", 1),
            step: "statement",
            after: std::time::Duration::from_secs(1),
        };
        assert!(c.is_host_failure(&t.into_mysql()));
    }

    #[test]
    fn closures_are_checkers() {
        let c = |e: &MyError| matches!(e, MyError::Server(s) if s.code == 1290);
        assert!(c.is_host_failure(&server(1290, "HY000")));
    }
}
