//! The soak's load: tasks that read and write, and record what they were told.
//!
//! Even-numbered tasks keep one `LoadBalancedConnection` for the whole run (connecting again
//! only when a connect fails); odd-numbered ones check a handle out of the shared pool per
//! operation, so both paths of the library are under the same faults.
//!
//! For every write attempt the task records its key, how many parts it wrote and what it was
//! told: Ok, or the `DataOutcome` of the error (`mysql_lb::Error::outcome`). An error at any
//! statement of a transaction is that transaction's answer, and the transaction is abandoned:
//! the API style drops its `LoadBalancedTransaction` (the library rolls it back), the text style sends
//! `ROLLBACK`.
//!
//! Every statement, connect and checkout runs under a 30 s safety net (`tokio::time::timeout`)
//! far above the URL's own bounds: a hit means a bound of the library did not hold. It counts
//! as an "unknown" answer, so the check of the data still covers it.

use std::collections::BTreeMap;
use std::time::Duration;

use mysql_async::TxOpts;
use mysql_async::prelude::Queryable;
use mysql_lb::{DataOutcome, Error, LbOpts, LoadBalancedConnection, LoadBalancedPool};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;
use tokio::time::Instant;

/// The bound no statement should come near (the URL's bounds are seconds).
pub(super) const SAFETY_NET: Duration = Duration::from_secs(30);
/// Pause after a failed connect or checkout, so a task does not spin while every host is down.
const RETRY_PAUSE: Duration = Duration::from_millis(50);
/// Pause after a failed operation, for the same reason.
const ERROR_PAUSE: Duration = Duration::from_millis(10);

/// What a caller was told about a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub(super) enum Told {
    Ok,
    NotApplied,
    Unknown,
}

/// How a write was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum How {
    /// One `INSERT` in autocommit.
    Insert,
    /// `start_transaction`, inserts through the `LoadBalancedTransaction`, `commit()`.
    TxApi,
    /// `BEGIN`, inserts, `COMMIT` as text.
    TxText,
}

/// Which kind of handle made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Via {
    Connection,
    Pool,
}

/// One write attempt and its answer.
#[derive(Debug)]
pub(super) struct Attempt {
    pub(super) key: String,
    /// When it began, since the load started (to set beside the fault log).
    pub(super) at_ms: u64,
    /// Rows it writes: parts `0..parts` of `key`.
    pub(super) parts: u8,
    pub(super) told: Told,
    pub(super) how: How,
    pub(super) via: Via,
    /// Where it failed (`commit()`, `tx insert`, ...) and the error's text, when not Ok.
    pub(super) error: Option<(&'static str, String)>,
}

/// What one task (or, merged, the whole load) did.
#[derive(Debug, Default)]
pub(super) struct Tally {
    /// SQL statements sent (connects and checkouts not counted).
    pub(super) statements: u64,
    pub(super) reads_ok: u64,
    pub(super) reads_failed: u64,
    /// Statements, connects or checkouts cut by [`SAFETY_NET`].
    pub(super) safety_net: u64,
    /// Errors by `where: variant`.
    pub(super) errors: BTreeMap<String, u64>,
    pub(super) attempts: Vec<Attempt>,
}

impl Tally {
    /// One tally of all tasks.
    pub(super) fn merge(tallies: Vec<Tally>) -> Tally {
        let mut all = Tally::default();
        for t in tallies {
            all.statements += t.statements;
            all.reads_ok += t.reads_ok;
            all.reads_failed += t.reads_failed;
            all.safety_net += t.safety_net;
            for (kind, n) in t.errors {
                *all.errors.entry(kind).or_default() += n;
            }
            all.attempts.extend(t.attempts);
        }
        all
    }

    /// Runs `fut` under the safety net; an error is counted under `at` and its variant.
    async fn bounded<T>(
        &mut self,
        at: &'static str,
        fut: impl Future<Output = mysql_async::Result<T>>,
    ) -> Result<T, Failure> {
        match tokio::time::timeout(SAFETY_NET, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                *self
                    .errors
                    .entry(format!("{at}: {}", kind_of(&e)))
                    .or_default() += 1;
                Err(Failure {
                    at,
                    outcome: Error::outcome(&e),
                    message: e.to_string(),
                })
            }
            Err(_) => {
                self.safety_net += 1;
                *self.errors.entry(format!("{at}: safety net")).or_default() += 1;
                // The future was dropped mid-way: nothing says whether it took effect.
                Err(Failure {
                    at,
                    outcome: DataOutcome::Unknown,
                    message: format!("no answer within the {SAFETY_NET:?} safety net"),
                })
            }
        }
    }

    /// [`Tally::bounded`] for an SQL statement.
    async fn statement<T>(
        &mut self,
        at: &'static str,
        fut: impl Future<Output = mysql_async::Result<T>>,
    ) -> Result<T, Failure> {
        self.statements += 1;
        self.bounded(at, fut).await
    }
}

/// A failed step: where, what it says about the data, and the error's text.
pub(super) struct Failure {
    at: &'static str,
    outcome: DataOutcome,
    message: String,
}

/// The name of an error for the report: this crate's variant (with its cause's kind), or the
/// driver's kind (a server error with its code).
pub(super) fn kind_of(e: &mysql_async::Error) -> String {
    match Error::from_mysql(e) {
        Some(Error::Mysql(inner)) => kind_of(inner),
        Some(
            ours @ (Error::TransactionLost { cause, .. }
            | Error::CommitUnknown { cause, .. }
            | Error::WriteNotRetried { cause, .. }
            | Error::SessionLost { cause, .. }),
        ) => format!("{} ({})", variant(ours), kind_of(cause)),
        Some(ours) => variant(ours),
        None => match e {
            mysql_async::Error::Server(s) => format!("Server {}", s.code),
            mysql_async::Error::Driver(d) => format!("Driver {}", variant(d)),
            other => variant(other),
        },
    }
}

/// The variant name of an enum value, from its `Debug` text (`Timeout { host: .. }`).
fn variant(value: &impl std::fmt::Debug) -> String {
    let text = format!("{value:?}");
    let end = text
        .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .unwrap_or(text.len());
    text[..end].to_owned()
}

/// The `LoadBalancedTransaction`/connect/checkout results are `mysql_lb::Error`; turning them into the
/// `mysql_async::Error` a statement returns lets [`Error::outcome`], the library's one
/// definition of what an error means for the data, answer for them too.
async fn lb<T>(fut: impl Future<Output = Result<T, Error>>) -> mysql_async::Result<T> {
    fut.await.map_err(Error::into_mysql)
}

/// One task of the load. Returns what it did and, for a connection task, its handle (closed
/// by the caller once every fault is undone).
pub(super) async fn task(
    id: usize,
    seed: u64,
    opts: LbOpts,
    pool: LoadBalancedPool,
    start: Instant,
    deadline: Instant,
) -> (Tally, Option<LoadBalancedConnection>) {
    let mut worker = Worker {
        id,
        start,
        seq: 0,
        rng: SmallRng::seed_from_u64(seed.wrapping_add(id as u64 + 1)),
        tally: Tally::default(),
        via: if id.is_multiple_of(2) {
            Via::Connection
        } else {
            Via::Pool
        },
    };
    let handle = match worker.via {
        Via::Connection => worker.own_connection(opts, deadline).await,
        Via::Pool => {
            worker.pooled(&pool, deadline).await;
            None
        }
    };
    (worker.tally, handle)
}

struct Worker {
    id: usize,
    /// When the load started.
    start: Instant,
    /// Attempts so far; the next key is `"{id}-{seq}"`.
    seq: u64,
    rng: SmallRng,
    tally: Tally,
    via: Via,
}

impl Worker {
    /// Runs operations on one long-lived handle until the deadline.
    async fn own_connection(
        &mut self,
        opts: LbOpts,
        deadline: Instant,
    ) -> Option<LoadBalancedConnection> {
        let mut conn: Option<LoadBalancedConnection> = None;
        while Instant::now() < deadline {
            let c = match &mut conn {
                Some(c) => c,
                None => {
                    let connect = lb(LoadBalancedConnection::connect(opts.clone()));
                    match self.tally.bounded("connect", connect).await {
                        Ok(c) => conn.insert(c),
                        Err(_) => {
                            tokio::time::sleep(RETRY_PAUSE).await;
                            continue;
                        }
                    }
                }
            };
            if !self.operate(c).await {
                tokio::time::sleep(ERROR_PAUSE).await;
            }
        }
        conn
    }

    /// Checks a handle out of the pool per operation until the deadline.
    async fn pooled(&mut self, pool: &LoadBalancedPool, deadline: Instant) {
        while Instant::now() < deadline {
            let mut conn = match self.tally.bounded("checkout", lb(pool.get_conn())).await {
                Ok(c) => c,
                Err(_) => {
                    tokio::time::sleep(RETRY_PAUSE).await;
                    continue;
                }
            };
            let ok = self.operate(&mut conn).await;
            // Back to its host's pool before the pause.
            drop(conn);
            if !ok {
                tokio::time::sleep(ERROR_PAUSE).await;
            }
        }
    }

    /// One random operation; false if it failed.
    async fn operate(&mut self, conn: &mut LoadBalancedConnection) -> bool {
        match self.rng.random_range(0..10) {
            0..4 => self.read(conn).await,
            4..7 => self.insert(conn).await,
            _ => {
                let parts = self.rng.random_range(2..=3);
                let how = if self.rng.random_bool(0.5) {
                    How::TxApi
                } else {
                    How::TxText
                };
                self.transaction(conn, how, parts).await
            }
        }
    }

    /// A read of one of this task's keys; it only counts, as the servers do not replicate.
    async fn read(&mut self, conn: &mut LoadBalancedConnection) -> bool {
        let key = format!("{}-{}", self.id, self.rng.random_range(0..self.seq.max(1)));
        let sql = format!("SELECT COUNT(*) FROM soak WHERE k = '{key}'");
        let ok = self
            .tally
            .statement("read", conn.query_first::<u64, _>(sql))
            .await
            .is_ok();
        if ok {
            self.tally.reads_ok += 1;
        } else {
            self.tally.reads_failed += 1;
        }
        ok
    }

    /// One `INSERT` in autocommit.
    async fn insert(&mut self, conn: &mut LoadBalancedConnection) -> bool {
        let (key, at_ms) = self.next_key();
        let result = self
            .tally
            .statement("insert", conn.query_drop(insert_sql(&key, 0)))
            .await;
        self.record(key, at_ms, 1, How::Insert, result.err())
    }

    /// Parts `0..parts` of one key in one transaction.
    async fn transaction(
        &mut self,
        conn: &mut LoadBalancedConnection,
        how: How,
        parts: u8,
    ) -> bool {
        let (key, at_ms) = self.next_key();
        let failure = match how {
            How::TxApi => self.tx_api(conn, &key, parts).await,
            _ => self.tx_text(conn, &key, parts).await,
        };
        self.record(key, at_ms, parts, how, failure)
    }

    async fn tx_api(
        &mut self,
        conn: &mut LoadBalancedConnection,
        key: &str,
        parts: u8,
    ) -> Option<Failure> {
        let begin = lb(conn.start_transaction(TxOpts::default()));
        let mut tx = match self.tally.statement("start_transaction", begin).await {
            Ok(tx) => tx,
            Err(f) => return Some(f),
        };
        for part in 0..parts {
            let insert = tx.query_drop(insert_sql(key, part));
            if let Err(f) = self.tally.statement("tx insert", insert).await {
                // Dropped uncommitted: rolled back before the handle's next statement.
                drop(tx);
                return Some(f);
            }
        }
        let commit = lb(async move { tx.commit().await });
        self.tally.statement("commit()", commit).await.err()
    }

    async fn tx_text(
        &mut self,
        conn: &mut LoadBalancedConnection,
        key: &str,
        parts: u8,
    ) -> Option<Failure> {
        let mut failure = self
            .tally
            .statement("BEGIN", conn.query_drop("BEGIN"))
            .await
            .err();
        for part in 0..parts {
            if failure.is_some() {
                break;
            }
            let insert = conn.query_drop(insert_sql(key, part));
            failure = self.tally.statement("tx insert", insert).await.err();
        }
        match failure {
            None => self
                .tally
                .statement("COMMIT", conn.query_drop("COMMIT"))
                .await
                .err(),
            Some(f) => {
                // Whatever ROLLBACK gets, the answer stays the failed statement's.
                let _ = self
                    .tally
                    .statement("ROLLBACK", conn.query_drop("ROLLBACK"))
                    .await;
                Some(f)
            }
        }
    }

    /// A new key, and the time it is taken at in milliseconds since the load started.
    fn next_key(&mut self) -> (String, u64) {
        let key = format!("{}-{}", self.id, self.seq);
        self.seq += 1;
        (key, self.start.elapsed().as_millis() as u64)
    }

    /// Records a write attempt's answer; returns whether it was Ok.
    fn record(
        &mut self,
        key: String,
        at_ms: u64,
        parts: u8,
        how: How,
        failure: Option<Failure>,
    ) -> bool {
        let (told, error) = match failure {
            None => (Told::Ok, None),
            Some(f) => {
                let told = match f.outcome {
                    DataOutcome::NotApplied => Told::NotApplied,
                    DataOutcome::Unknown => Told::Unknown,
                };
                (told, Some((f.at, f.message)))
            }
        };
        self.tally.attempts.push(Attempt {
            key,
            at_ms,
            parts,
            told,
            how,
            via: self.via,
            error,
        });
        told == Told::Ok
    }
}

fn insert_sql(key: &str, part: u8) -> String {
    format!("INSERT INTO soak VALUES ('{key}', {part})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_name_the_variant_and_its_cause() {
        let io = mysql_async::Error::Driver(mysql_async::DriverError::ConnectionClosed);
        assert_eq!(kind_of(&io), "Driver ConnectionClosed");
        let lost = Error::TransactionLost {
            host: mysql_lb::HostAddr::new("127.0.0.1", 3306),
            cause: Box::new(io),
        };
        assert_eq!(
            kind_of(&lost.into_mysql()),
            "TransactionLost (Driver ConnectionClosed)"
        );
        assert_eq!(kind_of(&Error::Closed.into_mysql()), "Closed");
    }
}
