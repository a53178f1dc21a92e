//! Which errors are the user's statement (exit 2) and which are the servers' (exit 1).
//!
//! A server that rejects a statement (syntax error 1064, unknown table, a constraint) was
//! reachable and answered: the input was bad. Errors that say a host is unusable (I/O,
//! timeouts, every host failed, SQLSTATE class `08`, too many connections, shutdown) are
//! failures: running the same command later may succeed.

use mysql_lb::Error;

use crate::Outcome;

/// Server error codes that describe the server, not the statement.
const HOST_CODES: &[u16] = &[1040, 1053, 1927, 4031, 1290, 1792];

/// Whether `e` means "a host or the network failed" rather than "the statement is wrong".
pub(crate) fn is_connection_error(e: &mysql_async::Error) -> bool {
    match e {
        mysql_async::Error::Server(s) => s.state.starts_with("08") || HOST_CODES.contains(&s.code),
        mysql_async::Error::Io(_) => true,
        mysql_async::Error::Driver(d) => matches!(
            d,
            mysql_async::DriverError::ConnectionClosed | mysql_async::DriverError::PoolDisconnected
        ),
        mysql_async::Error::Other(_) => match Error::from_mysql(e) {
            Some(Error::Mysql(inner)) => is_connection_error(inner),
            Some(Error::Url(_)) => false,
            Some(_) => true,
            None => false,
        },
        _ => false,
    }
}

/// The outcome of a statement that failed.
pub(crate) fn outcome(e: &mysql_async::Error) -> Outcome {
    if is_connection_error(e) {
        Outcome::Failed(e.to_string())
    } else {
        Outcome::BadInput(format!("the server refused the statement: {e}"))
    }
}

/// The outcome of a failed connect through `LoadBalancedConnection::connect`.
pub(crate) fn connect_outcome(e: &Error) -> Outcome {
    match e {
        Error::Url(u) => Outcome::BadInput(format!("bad connection string: {u}")),
        other => Outcome::Failed(format!("cannot connect: {other}")),
    }
}
