//! What a statement is, read from its text: may it be retried, does it end a transaction,
//! does it change session state that must follow the handle to another host?
//!
//! The reading is deliberately conservative. Only a statement that is plainly a read
//! (`SELECT` without locking clauses, `INTO`, user variables or functions with effects;
//! `SHOW`, `DESCRIBE`, `EXPLAIN`) is retried after a host failure; anything else, including
//! anything this reader does not understand, counts as a possible write and is never repeated.
//! Executable comments (`/*! … */`) and several statements in one string are never retried.

/// The kind of a statement, by its first keyword.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Reads only; safe to run again elsewhere.
    Read,
    /// `BEGIN`, `START TRANSACTION`.
    Begin,
    /// `COMMIT`.
    Commit,
    /// `ROLLBACK` (not `ROLLBACK TO SAVEPOINT`).
    Rollback,
    /// `SET`, `SHOW`, `USE`: not counted toward the autocommit threshold.
    Session,
    /// Anything else: may write.
    Other,
}

/// A statement's classification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Class {
    pub kind: Kind,
    /// Changes autocommit, isolation, read-only mode or the current database.
    pub tracked_change: bool,
    /// Creates session state that cannot move to another host, and why.
    pub pins: Option<&'static str>,
    /// Counts toward `autocommit_threshold` (`SET`, `SHOW`, `USE` and transaction control
    /// do not, as in Connector/J).
    pub counted: bool,
}

impl Class {
    /// A statement whose text is unknown (a prepared `Statement`): may write.
    pub(crate) const OPAQUE: Class = Class {
        kind: Kind::Other,
        tracked_change: false,
        pins: None,
        counted: true,
    };

    /// A plain read (`SELECT 1`): what pings, `prep` and session syncs count as.
    pub(crate) const READ: Class = Class {
        kind: Kind::Read,
        tracked_change: false,
        pins: None,
        counted: true,
    };

    /// Whether it may be run again on another host after a failure.
    pub(crate) fn retryable(&self) -> bool {
        self.kind == Kind::Read && self.pins.is_none()
    }
}

/// Classifies a statement's text.
pub(crate) fn classify(sql: &[u8]) -> Class {
    let text = String::from_utf8_lossy(sql);
    let body = skip_comments(&text);
    let mut class = Class::OPAQUE;
    if body.starts_with("/*!") {
        return class;
    }
    // The first two words decide most statements; only those whose meaning depends on the
    // rest (reads, SET, DO) are upper-cased whole, so a large INSERT costs no copy here.
    let head: String = body
        .chars()
        .take(64)
        .collect::<String>()
        .to_ascii_uppercase();
    let mut words = head.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '@'));
    let first = words.next().unwrap_or("").to_owned();
    let second = words.find(|w| !w.is_empty()).unwrap_or("").to_owned();
    let (first, second) = (first.as_str(), second.as_str());
    let whole = matches!(
        first,
        "SELECT" | "WITH" | "EXPLAIN" | "SHOW" | "DESCRIBE" | "DESC" | "SET" | "DO"
    );
    let upper = if whole {
        body.to_ascii_uppercase()
    } else {
        head.clone()
    };
    let multi = whole && upper.trim_end().trim_end_matches(';').contains(';');

    class.kind = match first {
        "SELECT" | "WITH" => {
            if multi || !read_only_select(&upper) {
                Kind::Other
            } else {
                Kind::Read
            }
        }
        "SHOW" | "DESCRIBE" | "DESC" if !multi => Kind::Read,
        "EXPLAIN" if !upper.contains("ANALYZE") && !multi => Kind::Read,
        "BEGIN" if second.is_empty() || second == "WORK" => Kind::Begin,
        "START" if second == "TRANSACTION" => Kind::Begin,
        "COMMIT" => Kind::Commit,
        "ROLLBACK" if !upper.contains(" TO ") => Kind::Rollback,
        "SET" | "USE" => Kind::Session,
        _ => Kind::Other,
    };
    class.counted = !matches!(first, "SET" | "SHOW" | "USE" | "DESCRIBE" | "DESC")
        && !matches!(class.kind, Kind::Begin | Kind::Commit | Kind::Rollback);
    if first == "USE" {
        class.tracked_change = true;
    }
    if first == "SET" {
        class.tracked_change = sets_tracked_variable(&upper, second);
        if second.starts_with('@') && !second.starts_with("@@") {
            class.pins = Some("a user variable");
        }
    }
    if first == "CREATE" && second == "TEMPORARY" {
        class.pins = Some("a temporary table");
    } else if first == "LOCK" && (second == "TABLES" || second == "TABLE") {
        class.pins = Some("a table lock");
    } else if first == "PREPARE" {
        class.pins = Some("an SQL prepared statement");
    } else if first == "XA" {
        class.pins = Some("an XA transaction");
    }
    if whole && upper.contains("GET_LOCK") {
        class.pins = Some("a named lock");
    }
    class
}

fn read_only_select(upper: &str) -> bool {
    const EFFECTS: &[&str] = &[
        " FOR UPDATE",
        " FOR SHARE",
        "LOCK IN SHARE MODE",
        " INTO ",
        "GET_LOCK",
        "RELEASE_LOCK",
        "RELEASE_ALL_LOCKS",
        "NEXTVAL",
        "NEXT VALUE FOR",
        "SETVAL",
        "LAST_INSERT_ID",
        "FOUND_ROWS",
        "ROW_COUNT",
        "INSERT",
        "UPDATE",
        "DELETE",
        "REPLACE",
    ];
    if EFFECTS.iter().any(|e| upper.contains(e)) {
        return false;
    }
    // A user variable (`@x`, not `@@sysvar`) is session state that does not move.
    let bytes = upper.as_bytes();
    !bytes.iter().enumerate().any(|(i, &b)| {
        b == b'@' && bytes.get(i + 1) != Some(&b'@') && (i == 0 || bytes[i - 1] != b'@')
    })
}

fn sets_tracked_variable(upper: &str, second: &str) -> bool {
    const TRACKED: &[&str] = &[
        "AUTOCOMMIT",
        "TX_ISOLATION",
        "TRANSACTION_ISOLATION",
        "TX_READ_ONLY",
        "TRANSACTION_READ_ONLY",
    ];
    // `SET TRANSACTION …` without SESSION applies to the next transaction only.
    if second == "TRANSACTION" {
        return false;
    }
    if (second == "SESSION" || second == "LOCAL") && upper.contains(" TRANSACTION ") {
        return true;
    }
    TRACKED.iter().any(|v| upper.contains(v))
}

/// The text after leading white space and comments.
fn skip_comments(mut s: &str) -> &str {
    loop {
        s = s.trim_start();
        if s.starts_with("/*") && !s.starts_with("/*!") {
            match s.find("*/") {
                Some(end) => s = &s[end + 2..],
                None => return "",
            }
        } else if s.starts_with("-- ") || s.starts_with('#') {
            match s.find('\n') {
                Some(end) => s = &s[end + 1..],
                None => return "",
            }
        } else {
            return s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(sql: &str) -> Class {
        classify(sql.as_bytes())
    }

    #[test]
    fn plain_reads_are_retryable() {
        for sql in [
            "SELECT 1",
            "  select * from t where id = 3",
            "/* hint */ SELECT a FROM b",
            "-- note\nSELECT 1;",
            "SHOW TABLES",
            "DESCRIBE t",
            "EXPLAIN SELECT 1",
            "WITH x AS (SELECT 1) SELECT * FROM x",
            "SELECT @@port",
        ] {
            assert!(c(sql).retryable(), "{sql}");
        }
    }

    #[test]
    fn anything_else_is_not() {
        for sql in [
            "INSERT INTO t VALUES (1)",
            "UPDATE t SET a = 1",
            "SELECT * FROM t FOR UPDATE",
            "SELECT * FROM t LOCK IN SHARE MODE",
            "SELECT 1 INTO @x",
            "SELECT @x",
            "SELECT GET_LOCK('a', 1)",
            "SELECT NEXTVAL(s)",
            "SELECT LAST_INSERT_ID()",
            "SELECT 1; DELETE FROM t",
            "/*!50000 SELECT 1 */",
            "CALL p()",
            "WITH x AS (SELECT 1) UPDATE t SET a = 1",
            "EXPLAIN ANALYZE SELECT 1",
            "",
            "garbage",
        ] {
            assert!(!c(sql).retryable(), "{sql}");
        }
    }

    #[test]
    fn transaction_boundaries() {
        assert_eq!(c("BEGIN").kind, Kind::Begin);
        assert_eq!(c("begin work").kind, Kind::Begin);
        assert_eq!(c("START TRANSACTION READ ONLY").kind, Kind::Begin);
        assert_eq!(c("COMMIT").kind, Kind::Commit);
        assert_eq!(c("rollback").kind, Kind::Rollback);
        assert_eq!(c("ROLLBACK TO SAVEPOINT a").kind, Kind::Other);
        assert_eq!(c("BEGIN NOT ATOMIC SELECT 1; END").kind, Kind::Other);
    }

    #[test]
    fn session_changes_are_tracked() {
        for sql in [
            "USE shop",
            "SET autocommit = 0",
            "SET @@session.autocommit=1",
            "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
            "SET tx_isolation = 'READ-COMMITTED'",
            "set session transaction read only",
        ] {
            assert!(c(sql).tracked_change, "{sql}");
        }
        assert!(!c("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE").tracked_change);
        assert!(!c("SET NAMES utf8mb4").tracked_change);
    }

    #[test]
    fn state_that_cannot_move_pins() {
        assert!(c("SET @x = 1").pins.is_some());
        assert!(c("CREATE TEMPORARY TABLE t (a int)").pins.is_some());
        assert!(c("LOCK TABLES t WRITE").pins.is_some());
        assert!(c("SELECT GET_LOCK('x', 0)").pins.is_some());
        assert!(c("SET @@session.autocommit = 1").pins.is_none());
        assert!(c("SELECT 1").pins.is_none());
    }

    #[test]
    fn threshold_counting_skips_set_show_use() {
        for (sql, counts) in [
            ("SELECT 1", true),
            ("INSERT INTO t VALUES (1)", true),
            ("SET autocommit=1", false),
            ("SHOW TABLES", false),
            ("USE db", false),
        ] {
            assert_eq!(c(sql).counted, counts, "{sql}");
        }
    }
}
