//! The sandbox's error type.
//!
//! Starting servers fails in ways a test author has to act on (the server is not installed,
//! a port was taken, InnoDB refused the data dir), so the errors carry what is needed to act
//! without digging: the install command, the port, and the last lines of the server's log.

use std::path::PathBuf;
use std::time::Duration;

/// Why a [`Sandbox`](super::Sandbox) operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A MariaDB program needed by the sandbox is not installed.
    #[error(
        "`{program}` was not found (looked in PATH and {searched}); install MariaDB with \
         `apt-get update && apt-get install -y mariadb-server`"
    )]
    MissingServer {
        /// The program that was looked for, e.g. `mariadbd`.
        program: String,
        /// The extra directories that were searched besides `PATH`.
        searched: String,
    },

    /// A file-system or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// `mariadb-install-db` failed while making the template data directory.
    #[error("mariadb-install-db failed ({status}); last lines of {log}:\n{tail}")]
    Template {
        /// How the program ended.
        status: String,
        /// Its full output.
        log: PathBuf,
        /// The last lines of that output.
        tail: String,
    },

    /// A server did not become ready for connections.
    #[error(
        "sandbox server {index} (port {port}) did not start: {reason}; last lines of {log}:\n{tail}"
    )]
    Startup {
        /// Index of the server in the sandbox.
        index: usize,
        /// The TCP port it was started on.
        port: u16,
        /// What went wrong (exited with a status, timed out, ...).
        reason: String,
        /// The server's log file.
        log: PathBuf,
        /// The last lines of that log.
        tail: String,
    },

    /// A statement run by [`Sandbox::sql`](super::Sandbox::sql) failed.
    #[error("SQL on sandbox server {index} failed: {source}")]
    Sql {
        /// Index of the server.
        index: usize,
        /// The driver's error.
        #[source]
        source: mysql_async::Error,
    },

    /// A statement run by [`Sandbox::sql`](super::Sandbox::sql) did not finish in time.
    #[error("SQL on sandbox server {index} did not finish within {after:?}")]
    SqlTimeout {
        /// Index of the server.
        index: usize,
        /// The bound that was exceeded.
        after: Duration,
    },

    /// A replication step on a sandbox server did not work out (a replica that does not
    /// start replicating, or does not catch up in time, or a role change that makes no sense).
    #[error("replication on sandbox server {index}: {reason}")]
    Replication {
        /// Index of the server.
        index: usize,
        /// What went wrong, with the server's own replication error when it has one.
        reason: String,
    },
}

impl SandboxError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        SandboxError::Io {
            context: context.into(),
            source,
        }
    }
}

/// The last `n` lines of a log file, or a note saying why it could not be read.
pub(crate) fn log_tail(path: &std::path::Path, n: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        }
        Err(e) => format!("(could not read {}: {e})", path.display()),
    }
}
