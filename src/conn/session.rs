//! Session state that follows the handle from host to host.
//!
//! Like Connector/J's connection swap, the handle carries autocommit, the isolation level,
//! read-only mode and the current database to every new physical connection — whether they
//! were set through its methods or through plain `USE` / `SET` statements (after such a
//! statement the handle reads the values back from the server rather than parse every SQL
//! spelling). Everything else in a MySQL session stays behind on the old host: user variables,
//! temporary tables, locks, `SET NAMES`, `sql_mode` and other variables, SQL-level `PREPARE`.
//! The handle notices the first four kinds and then stops moving on its own (see `classify`).

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, IsolationLevel};

/// The values a handle wants on every physical connection; `None` leaves the server default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SessionState {
    pub autocommit: Option<bool>,
    pub isolation: Option<String>,
    pub read_only: Option<bool>,
    pub database: Option<String>,
}

/// The SQL spelling of an isolation level (`REPEATABLE READ`).
pub(crate) fn isolation_sql(level: IsolationLevel) -> &'static str {
    match level {
        IsolationLevel::ReadUncommitted => "READ UNCOMMITTED",
        IsolationLevel::ReadCommitted => "READ COMMITTED",
        IsolationLevel::RepeatableRead => "REPEATABLE READ",
        IsolationLevel::Serializable => "SERIALIZABLE",
    }
}

impl SessionState {
    /// Brings `conn`, whose state is `have`, to this state. One round trip per differing
    /// group (none when nothing differs).
    pub(crate) async fn apply(
        &self,
        conn: &mut Conn,
        have: &SessionState,
    ) -> mysql_async::Result<()> {
        let mut sets = Vec::new();
        if let Some(a) = self.autocommit.filter(|a| have.autocommit != Some(*a)) {
            sets.push(format!("autocommit = {}", u8::from(a)));
        }
        if let Some(db) = self
            .database
            .as_ref()
            .filter(|d| have.database.as_ref() != Some(d))
        {
            conn.query_drop(format!("USE `{}`", db.replace('`', "``")))
                .await?;
        }
        if !sets.is_empty() {
            conn.query_drop(format!("SET {}", sets.join(", "))).await?;
        }
        if let Some(level) = self
            .isolation
            .as_ref()
            .filter(|l| have.isolation.as_ref() != Some(l))
        {
            conn.query_drop(format!("SET SESSION TRANSACTION ISOLATION LEVEL {level}"))
                .await?;
        }
        if let Some(ro) = self.read_only.filter(|r| have.read_only != Some(*r)) {
            let mode = if ro { "READ ONLY" } else { "READ WRITE" };
            conn.query_drop(format!("SET SESSION TRANSACTION {mode}"))
                .await?;
        }
        Ok(())
    }

    /// Reads the tracked values from the server (after a `USE` or `SET` the handle did not
    /// write itself). MariaDB before 11.1 knows only `tx_*`; MySQL 8 only `transaction_*`.
    pub(crate) async fn read(conn: &mut Conn) -> mysql_async::Result<SessionState> {
        type Row = (Option<String>, i64, String, i64);
        let row: Option<Row> = match conn
            .query_first("SELECT DATABASE(), @@autocommit, @@tx_isolation, @@tx_read_only")
            .await
        {
            Err(mysql_async::Error::Server(e)) if e.code == 1193 => {
                conn.query_first(
                    "SELECT DATABASE(), @@autocommit, @@transaction_isolation, \
                     @@transaction_read_only",
                )
                .await?
            }
            other => other?,
        };
        Ok(match row {
            Some((database, autocommit, isolation, read_only)) => SessionState {
                autocommit: Some(autocommit != 0),
                isolation: Some(isolation.replace('-', " ")),
                read_only: Some(read_only != 0),
                database,
            },
            None => SessionState::default(),
        })
    }
}
