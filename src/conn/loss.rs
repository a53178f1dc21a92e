//! The one rule for a lost connection: what the caller hears, and when.
//!
//! A handle loses its connection in many ways: a statement fails with an I/O error or a
//! timeout, the server closed it while it idled (`wait_timeout`, `KILL CONNECTION`, a
//! restart), the idle ping fails, the caller dropped a statement's future half-way, a
//! streaming result failed, the pool's host was removed. Every one of those paths asks
//! [`decide`] and does what it says, so that none of them can continue silently where the
//! caller's data is at stake (a transaction split in two, a user variable quietly gone).
//!
//! The rule, in order:
//! 1. **A transaction was open** (or a `BEGIN` was in flight): the server rolls back the
//!    transaction of a session that ends, so nothing of it committed, and nothing is replayed:
//!    [`Error::TransactionLost`](crate::Error::TransactionLost). The one exception is a
//!    `COMMIT` that was sent: the server may have committed before the connection died, so the
//!    caller hears [`Error::CommitUnknown`](crate::Error::CommitUnknown) (Connector/J's
//!    SQLSTATE 08007, "transaction resolution unknown"). A transaction the caller abandoned
//!    (an `LoadBalancedTransaction` dropped without commit or rollback) needs no report.
//! 2. **The session was pinned** (a temporary table, a user variable, a lock): the state is
//!    gone; [`Error::SessionLost`](crate::Error::SessionLost). If the statement that met the
//!    failure may have written, the caller first hears that
//!    ([`Error::WriteNotRetried`](crate::Error::WriteNotRetried)) and the session loss at the
//!    next statement, so that each error keeps one meaning for the data.
//! 3. **Otherwise** a plain read runs once more on another host (when allowed), a statement
//!    that may have written is reported as `WriteNotRetried` (its outcome is unknown), and a
//!    loss found between statements is silent: the next statement simply gets a new
//!    connection.
//!
//! When the loss is found *before* a statement is sent (the connection was found dead, or a
//! previous operation was cancelled), the statement did not run; the report is given to it
//! instead of running it. A cancelled operation is judged like a failed one, except that the
//! caller, who dropped the future, already knows its outcome is unknown: only a transaction or
//! a session that was lost with it is reported.

/// What the statement that met the failure was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stmt {
    /// Reads only (retry-safe by the classifier).
    Read,
    /// `COMMIT`.
    Commit,
    /// Anything that may write, or that the classifier does not understand.
    Write,
}

/// When the loss was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum When {
    /// Before the statement was sent: it did not run.
    Before,
    /// While the statement ran (it may have reached the server). `retry`: the statement may
    /// run again on another host (a collecting method, `retry_reads` on, first attempt).
    During { stmt: Stmt, retry: bool },
    /// Found before the next statement: the previous operation's future was dropped while
    /// `stmt` ran. The report, if any, goes to the next statement, which did not run.
    Cancelled { stmt: Stmt },
}

/// What the handle knew of the lost connection's session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Session {
    /// A transaction was open, or a `BEGIN` was in flight.
    pub in_tx: bool,
    /// The caller dropped its transaction without commit or rollback.
    pub abandoned: bool,
    /// Session state that cannot move, and what it is.
    pub pinned: Option<&'static str>,
}

/// What the caller hears now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing: carry on with a new connection.
    Silent,
    /// Run the statement again on another host.
    Retry,
    /// The driver's error, unchanged (a read that may not be retried).
    Plain,
    /// Nothing of the open transaction committed.
    TransactionLost,
    /// The `COMMIT` may or may not have committed.
    CommitUnknown,
    /// The statement may or may not have taken effect.
    WriteNotRetried,
    /// The pinned session state is gone.
    SessionLost(&'static str),
}

/// The verdict for now, and a session loss to report at the next statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Decision {
    pub now: Verdict,
    pub next: Option<&'static str>,
}

/// The rule; see the module docs.
pub(crate) fn decide(session: Session, when: When) -> Decision {
    let now = |now| Decision { now, next: None };
    let Session {
        in_tx,
        abandoned,
        pinned,
    } = session;
    match when {
        When::Before => match (in_tx && !abandoned, pinned) {
            (true, next) => Decision {
                now: Verdict::TransactionLost,
                next,
            },
            (false, Some(what)) => now(Verdict::SessionLost(what)),
            (false, None) => now(Verdict::Silent),
        },
        When::During { stmt, retry } => {
            if in_tx {
                let v = if stmt == Stmt::Commit {
                    Verdict::CommitUnknown
                } else {
                    Verdict::TransactionLost
                };
                return Decision {
                    now: v,
                    next: pinned,
                };
            }
            match (pinned, stmt) {
                (Some(what), Stmt::Read) => now(Verdict::SessionLost(what)),
                (Some(what), _) => Decision {
                    now: Verdict::WriteNotRetried,
                    next: Some(what),
                },
                (None, Stmt::Read) if retry => now(Verdict::Retry),
                (None, Stmt::Read) => now(Verdict::Plain),
                (None, _) => now(Verdict::WriteNotRetried),
            }
        }
        When::Cancelled { stmt } => {
            if in_tx && stmt == Stmt::Commit {
                return Decision {
                    now: Verdict::CommitUnknown,
                    next: pinned,
                };
            }
            decide(session, When::Before)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TX: Session = Session {
        in_tx: true,
        abandoned: false,
        pinned: None,
    };
    const PINNED: Session = Session {
        in_tx: false,
        abandoned: false,
        pinned: Some("a user variable"),
    };
    const PLAIN: Session = Session {
        in_tx: false,
        abandoned: false,
        pinned: None,
    };

    fn during(stmt: Stmt) -> When {
        When::During { stmt, retry: true }
    }

    #[test]
    fn inside_a_transaction_nothing_is_replayed() {
        for stmt in [Stmt::Read, Stmt::Write] {
            assert_eq!(decide(TX, during(stmt)).now, Verdict::TransactionLost);
            assert_eq!(
                decide(TX, When::Cancelled { stmt }).now,
                Verdict::TransactionLost
            );
        }
        assert_eq!(decide(TX, When::Before).now, Verdict::TransactionLost);
    }

    #[test]
    fn a_commit_that_was_sent_is_unknown_one_that_was_not_is_lost() {
        assert_eq!(decide(TX, during(Stmt::Commit)).now, Verdict::CommitUnknown);
        assert_eq!(
            decide(TX, When::Cancelled { stmt: Stmt::Commit }).now,
            Verdict::CommitUnknown
        );
        // Found dead before the COMMIT went out: provably not committed.
        assert_eq!(decide(TX, When::Before).now, Verdict::TransactionLost);
    }

    #[test]
    fn an_abandoned_transaction_needs_no_report() {
        let s = Session {
            abandoned: true,
            ..TX
        };
        assert_eq!(decide(s, When::Before).now, Verdict::Silent);
        let s = Session {
            pinned: Some("a table lock"),
            ..s
        };
        assert_eq!(
            decide(s, When::Before).now,
            Verdict::SessionLost("a table lock")
        );
    }

    #[test]
    fn a_pinned_session_is_reported_lost() {
        assert_eq!(
            decide(PINNED, When::Before).now,
            Verdict::SessionLost("a user variable")
        );
        assert_eq!(
            decide(PINNED, during(Stmt::Read)).now,
            Verdict::SessionLost("a user variable")
        );
        // Never retried, even where a retry is allowed.
        assert_ne!(decide(PINNED, during(Stmt::Read)).now, Verdict::Retry);
    }

    #[test]
    fn a_write_in_a_pinned_session_is_unknown_now_and_the_session_lost_next() {
        let d = decide(PINNED, during(Stmt::Write));
        assert_eq!(d.now, Verdict::WriteNotRetried);
        assert_eq!(d.next, Some("a user variable"));
        let d = decide(PINNED, When::Cancelled { stmt: Stmt::Write });
        assert_eq!(d.now, Verdict::SessionLost("a user variable"));
    }

    #[test]
    fn a_transaction_and_a_session_lost_together_are_both_reported() {
        let s = Session {
            pinned: Some("a temporary table"),
            ..TX
        };
        let d = decide(s, during(Stmt::Write));
        assert_eq!(d.now, Verdict::TransactionLost);
        assert_eq!(d.next, Some("a temporary table"));
        assert_eq!(decide(s, When::Before).next, Some("a temporary table"));
    }

    #[test]
    fn reads_retry_once_where_allowed() {
        assert_eq!(decide(PLAIN, during(Stmt::Read)).now, Verdict::Retry);
        assert_eq!(
            decide(
                PLAIN,
                When::During {
                    stmt: Stmt::Read,
                    retry: false
                }
            )
            .now,
            Verdict::Plain
        );
    }

    #[test]
    fn writes_are_never_retried() {
        for stmt in [Stmt::Write, Stmt::Commit] {
            assert_eq!(decide(PLAIN, during(stmt)).now, Verdict::WriteNotRetried);
        }
    }

    #[test]
    fn between_statements_a_plain_session_moves_silently() {
        assert_eq!(decide(PLAIN, When::Before).now, Verdict::Silent);
        for stmt in [Stmt::Read, Stmt::Write, Stmt::Commit] {
            assert_eq!(decide(PLAIN, When::Cancelled { stmt }).now, Verdict::Silent);
        }
    }
}
