//! The sandbox as a MariaDB GTID replication set: one source, N replicas, and role changes.
//!
//! Why: read/write splitting, replica lag and failover can only be tested honestly against
//! real replication — a replica that is really `read_only` (and refuses an ordinary user's
//! write with error 1290), really lags when its SQL thread stops, and really follows a new
//! source after a promotion. Mocking any of that would test our assumptions, not MariaDB.
//!
//! How:
//! - Every server runs with a binary log and `--log-slave-updates`, so each one's binlog holds
//!   every transaction it has, and any of them can be promoted and serve the others.
//! - The accounts come with the template (see `template.rs`): [`APP_USER`], the account an
//!   application uses, and `repl`, the replicas' own account. Being outside any binlog they
//!   never replicate, so no replica trips over a `CREATE USER` for an account it has.
//! - [`Sandbox::start_replication`] starts the servers like [`Sandbox::start`], then makes
//!   servers 1..=N replicas of server 0 with [`Sandbox::demote`], by SQL, and waits until both
//!   replication threads of each run. Starting is as fast as the plain sandbox.
//! - Roles survive restarts: a replica's `--read-only` is kept as an argument of that server
//!   alone (`Server::set_own_args`), and its `CHANGE MASTER` settings are kept by MariaDB in
//!   the data dir, so a restarted replica comes back read-only and replicating by itself.
//!   Its position is `gtid_slave_pos`, an InnoDB table, so it survives the SIGKILL of
//!   [`Sandbox::restart`]. `MASTER_CONNECT_RETRY=1` and `--slave-net-timeout=5` make
//!   replicas find a restarted or resumed source within seconds instead of a minute.
//! - With TLS ([`SandboxOptions::tls`]) replicas connect to their source with
//!   `MASTER_SSL=1` and the same CA, so replication works under
//!   `--require-secure-transport` too.
//!
//! Why [`APP_USER`] has a list of grants instead of `ALL`: on MariaDB 10.11 `GRANT ALL`
//! includes `READ_ONLY ADMIN`, which lets a user write through `read_only` (checked on the
//! real server: such a user's INSERT on a read-only server succeeds). `SUPER` no longer
//! implies it since 10.11, but did before, so neither is granted. The list needs MariaDB 10.5
//! or later (`BINLOG MONITOR`, `SLAVE MONITOR`).

use std::sync::atomic::Ordering;
use std::time::Duration;

use mysql_async::Row;
use mysql_async::prelude::FromValue;

use super::cluster::{Sandbox, SandboxOptions};
use super::error::SandboxError;

/// An account without `SUPER` or `READ_ONLY ADMIN`, so `@@read_only` applies to it (a write
/// on a replica fails with error 1290), with the ordinary data and schema privileges on
/// `*.*`, plus `PROCESS`, `BINLOG MONITOR` and `SLAVE MONITOR` to watch replication. Every
/// sandbox server has it, reachable over TCP from 127.0.0.1.
pub const APP_USER: &str = "app";

/// The password of [`APP_USER`].
pub const APP_PASSWORD: &str = "app-secret";

/// What [`APP_USER`] is granted on `*.*`.
pub(crate) const APP_GRANTS: &str = "SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, \
     ALTER, REFERENCES, CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, CREATE VIEW, SHOW VIEW, \
     CREATE ROUTINE, ALTER ROUTINE, EVENT, TRIGGER, SHOW DATABASES, PROCESS, BINLOG MONITOR, \
     SLAVE MONITOR";

/// The account replicas connect to their source with (`REPLICATION SLAVE` only).
pub(crate) const REPL_USER: &str = "repl";

/// The password of [`REPL_USER`].
pub(crate) const REPL_PASSWORD: &str = "repl-secret";

/// Server arguments of a replication set, before the caller's (which win).
const REPLICATION_ARGS: &[&str] = &[
    // Fixed names: the defaults derive from the host name.
    "--log-bin=binlog",
    "--relay-log=relay-bin",
    "--log-slave-updates",
    "--binlog-format=ROW",
    // A paused source is noticed after this (heartbeats every half of it), not after 60 s.
    "--slave-net-timeout=5",
];

/// The argument of a server that is a replica (kept across restarts).
const READ_ONLY_ARG: &str = "--read-only";

/// Pause between two looks at `SHOW SLAVE STATUS` while waiting for the threads to run.
const STATUS_POLL: Duration = Duration::from_millis(10);

impl Sandbox {
    /// Starts `replicas + 1` servers with default options: server 0 is the source, servers
    /// `1..=replicas` replicate from it with GTID (`MASTER_USE_GTID=slave_pos`) and have
    /// `@@global.read_only=1`. All servers have binary logs and `log_slave_updates`, so any
    /// of them can be promoted. Returns once every replica's IO and SQL threads run.
    pub async fn start_replication(replicas: usize) -> Result<Sandbox, SandboxError> {
        Self::start_replication_with(replicas, SandboxOptions::default()).await
    }

    /// [`Sandbox::start_replication`] with `opts`; its server arguments come after the
    /// replication ones, so they win.
    pub async fn start_replication_with(
        replicas: usize,
        mut opts: SandboxOptions,
    ) -> Result<Sandbox, SandboxError> {
        let mut args: Vec<String> = REPLICATION_ARGS.iter().map(|a| a.to_string()).collect();
        args.append(&mut opts.server_args);
        opts.server_args = args;
        let sandbox = Sandbox::start_with(replicas + 1, opts).await?;
        // All replicas connect before any is waited for: their threads start in parallel.
        for i in 1..=replicas {
            sandbox.replicate_from(i, 0).await?;
        }
        for i in 1..=replicas {
            sandbox.wait_replicating(i).await?;
        }
        Ok(sandbox)
    }

    /// `mysql:replication://app:app-secret@127.0.0.1:P0,127.0.0.1:P1,.../`: the current
    /// source ([`Sandbox::source`]) first, then the other servers in server order, as
    /// [`APP_USER`].
    pub fn replication_url(&self) -> String {
        let source = self.source();
        let hosts: Vec<String> = std::iter::once(source)
            .chain((0..self.len()).filter(|&i| i != source))
            .map(|i| format!("127.0.0.1:{}", self.port(i)))
            .collect();
        format!(
            "mysql:replication://{APP_USER}:{APP_PASSWORD}@{}/",
            hosts.join(",")
        )
    }

    /// Index of the server the sandbox last made the source: 0 at start, then the last one
    /// given to [`Sandbox::promote`].
    pub fn source(&self) -> usize {
        self.source.load(Ordering::SeqCst)
    }

    /// Makes replica `i` lag: `STOP SLAVE SQL_THREAD`. Its IO thread keeps receiving, so the
    /// source's writes pile up in its relay log until [`Sandbox::start_replica_sql`].
    pub async fn stop_replica_sql(&self, i: usize) -> Result<(), SandboxError> {
        self.exec(i, "STOP SLAVE SQL_THREAD").await
    }

    /// Detaches replica `i` from its source (`STOP SLAVE; RESET SLAVE ALL`); it stays
    /// read-only, and its source stops listing it in `SHOW SLAVE HOSTS`. [`Sandbox::demote`]
    /// attaches it again.
    pub async fn detach(&self, i: usize) -> Result<(), SandboxError> {
        self.exec(i, "STOP SLAVE; RESET SLAVE ALL").await
    }

    /// `START SLAVE SQL_THREAD` on replica `i`.
    pub async fn start_replica_sql(&self, i: usize) -> Result<(), SandboxError> {
        self.exec(i, "START SLAVE SQL_THREAD").await
    }

    /// Waits, at most about `timeout`, until replica `i` has applied everything the current
    /// source has written: reads the source's `@@gtid_binlog_pos`, then runs
    /// `MASTER_GTID_WAIT` on the replica. Returns at once when `i` is the source.
    pub async fn wait_caught_up(&self, i: usize, timeout: Duration) -> Result<(), SandboxError> {
        let source = self.source();
        if i == source {
            return Ok(());
        }
        let pos: String = self.first(source, "SELECT @@gtid_binlog_pos").await?;
        // A GTID list is digits, '-' and ','; anything else would not be one.
        if !pos
            .chars()
            .all(|c| c.is_ascii_digit() || c == '-' || c == ',')
        {
            return Err(SandboxError::Replication {
                index: source,
                reason: format!("unexpected @@gtid_binlog_pos {pos:?}"),
            });
        }
        let sql = format!(
            "SELECT MASTER_GTID_WAIT('{pos}', {})",
            timeout.as_secs_f64()
        );
        let rows = self.sql_within(i, &sql, timeout + self.sql_timeout).await?;
        let waited: Option<i64> = rows.first().and_then(|r| column(r, 0));
        if waited == Some(0) {
            return Ok(());
        }
        Err(SandboxError::Replication {
            index: i,
            reason: format!(
                "did not apply the source's (server {source}) GTID position {pos} within \
                 {timeout:?}{}",
                self.replica_errors(i).await
            ),
        })
    }

    /// `Seconds_Behind_Master` of replica `i`: `None` when its SQL thread is stopped (or not
    /// connected) or when it is not a replica.
    pub async fn replica_lag(&self, i: usize) -> Result<Option<u64>, SandboxError> {
        let status = self.slave_status(i).await?;
        Ok(status.and_then(|row| column::<Option<u64>>(&row, "Seconds_Behind_Master").flatten()))
    }

    /// Makes replica `i` a source: `STOP SLAVE`, `RESET SLAVE ALL`, `SET GLOBAL
    /// read_only=0`; it stays writable across restarts. [`Sandbox::source`] becomes `i`.
    /// The other servers keep replicating from the old source until [`Sandbox::demote`]
    /// re-points them.
    pub async fn promote(&self, i: usize) -> Result<(), SandboxError> {
        self.exec(i, "STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = 0")
            .await?;
        self.servers[i].set_own_args(Vec::new());
        self.source.store(i, Ordering::SeqCst);
        Ok(())
    }

    /// Makes server `i` a replica of `source` (a source being demoted, or a replica being
    /// re-pointed): `SET GLOBAL read_only=1` (kept across restarts), drops its old
    /// replication settings, sets `gtid_slave_pos` to its own `gtid_binlog_pos` when that is
    /// ahead (a former source has written what it never received as a replica, and must not
    /// ask for it again), `CHANGE MASTER TO` `source` with `MASTER_USE_GTID=slave_pos`,
    /// `START SLAVE`. Returns once both replication threads run.
    pub async fn demote(&self, i: usize, source: usize) -> Result<(), SandboxError> {
        self.replicate_from(i, source).await?;
        self.wait_replicating(i).await
    }

    /// [`Sandbox::demote`] without waiting for the replication threads.
    async fn replicate_from(&self, i: usize, source: usize) -> Result<(), SandboxError> {
        if i == source {
            return Err(SandboxError::Replication {
                index: i,
                reason: "a server cannot replicate from itself".to_string(),
            });
        }
        let port = self.port(source);
        self.servers[i].set_own_args(vec![READ_ONLY_ARG.to_string()]);
        // read_only first: no ordinary write may land after the positions are read.
        self.exec(i, "SET GLOBAL read_only = 1; STOP SLAVE; RESET SLAVE ALL")
            .await?;
        let binlog_pos: String = self.first(i, "SELECT @@gtid_binlog_pos").await?;
        let slave_pos: String = self.first(i, "SELECT @@gtid_slave_pos").await?;
        if !binlog_pos.is_empty() && binlog_pos != slave_pos {
            // Set through a variable: no quoting of server output into SQL.
            self.exec(i, "SET GLOBAL gtid_slave_pos = @@gtid_binlog_pos")
                .await?;
        }
        self.exec(
            i,
            &format!(
                "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={port}, \
                 MASTER_USER='{REPL_USER}', MASTER_PASSWORD='{REPL_PASSWORD}', \
                 MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1{}; START SLAVE",
                self.master_ssl_clause()
            ),
        )
        .await
    }

    /// Waits, bounded by the sandbox's SQL timeout, until both replication threads of `i`
    /// run (the IO thread says `Yes` once it is connected to its source).
    async fn wait_replicating(&self, i: usize) -> Result<(), SandboxError> {
        let give_up = tokio::time::Instant::now() + self.sql_timeout;
        loop {
            let running = self.slave_status(i).await?.is_some_and(|row| {
                column::<String>(&row, "Slave_IO_Running").as_deref() == Some("Yes")
                    && column::<String>(&row, "Slave_SQL_Running").as_deref() == Some("Yes")
            });
            if running {
                return Ok(());
            }
            if tokio::time::Instant::now() >= give_up {
                return Err(SandboxError::Replication {
                    index: i,
                    reason: format!(
                        "replication threads not running after {:?}{}",
                        self.sql_timeout,
                        self.replica_errors(i).await
                    ),
                });
            }
            tokio::time::sleep(STATUS_POLL).await;
        }
    }

    /// `SHOW SLAVE STATUS` of server `i`; `None` when it is not a replica.
    async fn slave_status(&self, i: usize) -> Result<Option<Row>, SandboxError> {
        Ok(self.sql(i, "SHOW SLAVE STATUS").await?.into_iter().next())
    }

    /// The replica's own account of what is wrong, for an error message (empty if none).
    async fn replica_errors(&self, i: usize) -> String {
        let Ok(Some(row)) = self.slave_status(i).await else {
            return String::new();
        };
        let field = |name: &str| column::<String>(&row, name).unwrap_or_default();
        format!(
            " (IO thread: {} {}; SQL thread: {} {})",
            field("Slave_IO_Running"),
            field("Last_IO_Error"),
            field("Slave_SQL_Running"),
            field("Last_SQL_Error"),
        )
    }

    /// The first column of the first row of `sql` on server `i`.
    async fn first<T: FromValue>(&self, i: usize, sql: &str) -> Result<T, SandboxError> {
        self.sql(i, sql)
            .await?
            .first()
            .and_then(|row| column(row, 0))
            .ok_or_else(|| SandboxError::Replication {
                index: i,
                reason: format!("`{sql}` returned no usable value"),
            })
    }
}

/// Column `index` (a position or a name) of `row` as `T`, `None` if absent or of another type.
fn column<T: FromValue>(row: &Row, index: impl mysql_async::prelude::ColumnIndex) -> Option<T> {
    row.get_opt(index).and_then(Result::ok)
}
