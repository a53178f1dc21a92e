//! What a statement is, read from its text: may it be retried, does it end a transaction,
//! does it change session state that must follow the handle to another host?
//!
//! The reading is deliberately conservative. A statement is retried after a host failure only
//! when nothing in it can write or leave state behind: a `SELECT` (or `WITH … SELECT`) whose
//! every function is a known side-effect-free built-in, with no `INTO`, no locking clause
//! (`FOR UPDATE`, `FOR SHARE`, `LOCK IN SHARE MODE`), no sequence (`NEXT VALUE FOR`,
//! `NEXTVAL()`), no user variable; or `SHOW`, `DESCRIBE`, `EXPLAIN`. A call to anything else
//! may be a stored function that inserts (`SELECT bump()`), so it is a possible write, as is
//! anything this reader does not understand. Executable comments (`/*! … */`) and several
//! statements in one string are never retried. Words are read with the lexer (`lexer.rs`), so
//! strings and comments never count and white space of any kind separates words.
//!
//! Session state set by any statement pins the handle to its connection: a user variable
//! (`SET @x`, `SELECT @x := …`, `SELECT … INTO @x`), a temporary table (`CREATE [OR REPLACE]
//! TEMPORARY TABLE`), a lock, an SQL-level `PREPARE`, an XA transaction, an open `HANDLER`.

use super::lexer::{Lexer, Tok};

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
    /// The first keyword, upper case, when it is a statement keyword (OpenTelemetry's
    /// `db.operation.name`); empty otherwise.
    pub verb: &'static str,
}

impl Class {
    /// A statement whose text is unknown (a prepared `Statement`): may write.
    pub(crate) const OPAQUE: Class = Class {
        kind: Kind::Other,
        tracked_change: false,
        pins: None,
        counted: true,
        verb: "",
    };

    /// A plain read (`SELECT 1`): what pings, `prep` and session syncs count as.
    pub(crate) const READ: Class = Class {
        kind: Kind::Read,
        tracked_change: false,
        pins: None,
        counted: true,
        verb: "",
    };

    /// Whether it may be run again on another host after a failure.
    pub(crate) fn retryable(&self) -> bool {
        self.kind == Kind::Read && self.pins.is_none()
    }
}

/// Statement keywords, for `db.operation.name`: a fixed list, so that a span's field never
/// carries text from the statement itself.
const VERBS: &[&str] = &[
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "REPLACE",
    "WITH",
    "SHOW",
    "DESCRIBE",
    "DESC",
    "EXPLAIN",
    "BEGIN",
    "START",
    "COMMIT",
    "ROLLBACK",
    "SET",
    "USE",
    "CALL",
    "CREATE",
    "ALTER",
    "DROP",
    "TRUNCATE",
    "RENAME",
    "LOAD",
    "DO",
    "LOCK",
    "UNLOCK",
    "GRANT",
    "REVOKE",
    "ANALYZE",
    "OPTIMIZE",
    "PREPARE",
    "EXECUTE",
    "DEALLOCATE",
    "SAVEPOINT",
    "RELEASE",
    "XA",
    "HANDLER",
    "KILL",
    "FLUSH",
    "VALUES",
    "TABLE",
];

/// Classifies a statement's text.
pub(crate) fn classify(sql: &[u8]) -> Class {
    let mut toks = Lexer::new(sql);
    let mut class = Class::OPAQUE;
    let Some(Tok::Word(first)) = toks.next() else {
        return class;
    };
    class.verb = VERBS
        .iter()
        .find(|v| first.eq_ignore_ascii_case(v))
        .copied()
        .unwrap_or("");
    let second = toks.clone().find_map(|t| match t {
        Tok::Word(w) => Some(Some(w)),
        Tok::UserVar | Tok::SysVar | Tok::Quoted | Tok::Literal => Some(None),
        _ => None,
    });
    let second = second.flatten().unwrap_or("");
    let kw = |w: &str, k: &str| w.eq_ignore_ascii_case(k);
    let is = |k: &str| kw(first, k);
    // Everything after the first word, for the statements whose meaning depends on it.
    let scan = || Scan::of(Lexer::new(sql).skip(1));

    class.kind = if is("SELECT") || is("WITH") {
        let s = scan();
        class.pins = s.pins;
        if s.read_only { Kind::Read } else { Kind::Other }
    } else if is("SHOW") || is("DESCRIBE") || is("DESC") {
        if scan().single {
            Kind::Read
        } else {
            Kind::Other
        }
    } else if is("EXPLAIN") {
        let s = scan();
        let analyze = Lexer::new(sql)
            .take(3)
            .any(|t| matches!(t, Tok::Word(w) if kw(w, "ANALYZE")));
        if s.single && !analyze {
            Kind::Read
        } else {
            Kind::Other
        }
    } else if (is("BEGIN") && (second.is_empty() || kw(second, "WORK")))
        || (is("START") && kw(second, "TRANSACTION"))
    {
        Kind::Begin
    } else if is("COMMIT") {
        Kind::Commit
    } else if is("ROLLBACK")
        && !toks
            .clone()
            .any(|t| matches!(t, Tok::Word(w) if kw(w, "TO")))
    {
        Kind::Rollback
    } else if is("SET") || is("USE") {
        Kind::Session
    } else {
        Kind::Other
    };
    class.counted = !(is("SET")
        || is("SHOW")
        || is("USE")
        || is("DESCRIBE")
        || is("DESC")
        || matches!(class.kind, Kind::Begin | Kind::Commit | Kind::Rollback));
    if is("USE") {
        class.tracked_change = true;
    }
    if is("SET") {
        let text = String::from_utf8_lossy(sql).to_ascii_uppercase();
        class.tracked_change = sets_tracked_variable(&text, &second.to_ascii_uppercase());
        class.pins = scan().pins.or_else(|| {
            matches!(toks.clone().next(), Some(Tok::UserVar)).then_some("a user variable")
        });
    }
    if is("DO") {
        class.pins = scan().pins;
    }
    if is("CREATE") {
        // CREATE [OR REPLACE] TEMPORARY TABLE
        let temporary = Lexer::new(sql)
            .take(4)
            .any(|t| matches!(t, Tok::Word(w) if kw(w, "TEMPORARY")));
        if temporary {
            class.pins = Some("a temporary table");
        }
    } else if is("LOCK") && (kw(second, "TABLES") || kw(second, "TABLE")) {
        class.pins = Some("a table lock");
    } else if is("PREPARE") {
        class.pins = Some("an SQL prepared statement");
    } else if is("XA") {
        class.pins = Some("an XA transaction");
    } else if is("HANDLER") {
        class.pins = Some("an open HANDLER");
    }
    class
}

/// What the words after a statement's first one say.
struct Scan {
    /// Nothing in it can write or leave state behind.
    read_only: bool,
    /// Session state it sets, if any.
    pins: Option<&'static str>,
    /// One statement only (a `;` may end it).
    single: bool,
}

impl Scan {
    fn of<'a>(toks: impl Iterator<Item = Tok<'a>>) -> Scan {
        let mut scan = Scan {
            read_only: true,
            pins: None,
            single: true,
        };
        let kw = |t: Option<&Tok<'_>>, k: &str| matches!(t, Some(Tok::Word(w)) if w.eq_ignore_ascii_case(k));
        let mut prev: Option<Tok<'a>> = None;
        let mut ended = false;
        let mut toks = toks.peekable();
        while let Some(t) = toks.next() {
            if ended {
                scan.single = false;
                scan.read_only = false;
            }
            let next = toks.peek();
            match t {
                Tok::Executable => scan.read_only = false,
                Tok::Punct(b';') => ended = true,
                Tok::UserVar => {
                    // Its value lives in this session only: reading it elsewhere differs.
                    scan.read_only = false;
                    if matches!(next, Some(Tok::Assign) | Some(Tok::Punct(b'='))) {
                        scan.pins = Some("a user variable");
                    }
                }
                Tok::Word(w) => {
                    let call = matches!(next, Some(Tok::Punct(b'(')));
                    let up = Upper::of(w);
                    let word = up.as_str();
                    if call {
                        let qualified = matches!(prev, Some(Tok::Punct(b'.')));
                        if qualified || !is_pure_builtin(word) {
                            scan.read_only = false;
                        }
                        if matches!(word, "GET_LOCK" | "RELEASE_LOCK" | "RELEASE_ALL_LOCKS") {
                            scan.pins = Some("a named lock");
                        }
                    } else {
                        match word {
                            "INTO" => {
                                scan.read_only = false;
                                if matches!(next, Some(Tok::UserVar)) {
                                    scan.pins = Some("a user variable");
                                }
                            }
                            "UPDATE" | "SHARE" if kw(prev.as_ref(), "FOR") => {
                                scan.read_only = false
                            }
                            "IN" if kw(prev.as_ref(), "LOCK") => scan.read_only = false,
                            "VALUE"
                                if kw(prev.as_ref(), "NEXT") || kw(prev.as_ref(), "PREVIOUS") =>
                            {
                                scan.read_only = false
                            }
                            "INSERT" | "UPDATE" | "DELETE" | "REPLACE" => scan.read_only = false,
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
            prev = Some(t);
        }
        scan
    }
}

/// A word in upper case, without allocating (words longer than the buffer are never
/// keywords or built-ins this reader knows, and come out empty).
struct Upper {
    buf: [u8; 32],
    len: usize,
}

impl Upper {
    fn of(w: &str) -> Upper {
        let mut up = Upper {
            buf: [0; 32],
            len: 0,
        };
        if w.len() <= up.buf.len() && w.is_ascii() {
            up.buf[..w.len()].copy_from_slice(w.as_bytes());
            up.buf[..w.len()].make_ascii_uppercase();
            up.len = w.len();
        }
        up
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

/// Whether `name(` (upper case) is a built-in function without side effects, or a keyword
/// that a `(` may follow. Anything else may be a stored function that writes.
fn is_pure_builtin(name: &str) -> bool {
    PURE.binary_search(&name).is_ok() || name.starts_with("ST_") || name.starts_with("JSON_")
}

/// Sorted: built-in functions without side effects, and keywords a `(` may follow.
const PURE: &[&str] = &[
    "ABS",
    "ACOS",
    "ADDDATE",
    "ADDTIME",
    "AGAINST",
    "ALL",
    "AND",
    "ANY",
    "AS",
    "ASCII",
    "ASIN",
    "ATAN",
    "ATAN2",
    "AVG",
    "BENCHMARK",
    "BETWEEN",
    "BIN",
    "BINARY",
    "BIT_AND",
    "BIT_COUNT",
    "BIT_LENGTH",
    "BIT_OR",
    "BIT_XOR",
    "BY",
    "CASE",
    "CAST",
    "CEIL",
    "CEILING",
    "CHAR",
    "CHARACTER_LENGTH",
    "CHARSET",
    "CHAR_LENGTH",
    "COALESCE",
    "COERCIBILITY",
    "COLLATION",
    "COLUMNS",
    "COMPRESS",
    "CONCAT",
    "CONCAT_WS",
    "CONNECTION_ID",
    "CONV",
    "CONVERT",
    "CONVERT_TZ",
    "COS",
    "COT",
    "COUNT",
    "CRC32",
    "CROSS",
    "CUME_DIST",
    "CURDATE",
    "CURRENT_DATE",
    "CURRENT_ROLE",
    "CURRENT_TIME",
    "CURRENT_TIMESTAMP",
    "CURRENT_USER",
    "CURTIME",
    "DATABASE",
    "DATE",
    "DATEDIFF",
    "DATETIME",
    "DATE_ADD",
    "DATE_FORMAT",
    "DATE_SUB",
    "DAY",
    "DAYNAME",
    "DAYOFMONTH",
    "DAYOFWEEK",
    "DAYOFYEAR",
    "DEC",
    "DECIMAL",
    "DEFAULT",
    "DEGREES",
    "DENSE_RANK",
    "DISTINCT",
    "DOUBLE",
    "ELSE",
    "ELT",
    "ESCAPE",
    "EXCEPT",
    "EXISTS",
    "EXP",
    "EXPORT_SET",
    "EXTRACT",
    "FIELD",
    "FIND_IN_SET",
    "FIRST_VALUE",
    "FLOAT",
    "FLOOR",
    "FORCE",
    "FORMAT",
    "FROM",
    "FROM_BASE64",
    "FROM_DAYS",
    "FROM_UNIXTIME",
    "GET_FORMAT",
    "GREATEST",
    "GROUP_CONCAT",
    "HAVING",
    "HEX",
    "HOUR",
    "IF",
    "IFNULL",
    "IGNORE",
    "IN",
    "INDEX",
    "INET6_ATON",
    "INET6_NTOA",
    "INET_ATON",
    "INET_NTOA",
    "INNER",
    "INSERT",
    "INSTR",
    "INT",
    "INTEGER",
    "INTERSECT",
    "INTERVAL",
    "IS",
    "ISNULL",
    "IS_IPV4",
    "IS_IPV6",
    "JOIN",
    "KEY",
    "LAG",
    "LAST_DAY",
    "LAST_VALUE",
    "LATERAL",
    "LCASE",
    "LEAD",
    "LEAST",
    "LEFT",
    "LENGTH",
    "LIKE",
    "LIMIT",
    "LN",
    "LOCALTIME",
    "LOCALTIMESTAMP",
    "LOCATE",
    "LOG",
    "LOG10",
    "LOG2",
    "LOWER",
    "LPAD",
    "LTRIM",
    "MAKEDATE",
    "MAKETIME",
    "MAKE_SET",
    "MATCH",
    "MAX",
    "MD5",
    "MICROSECOND",
    "MID",
    "MIN",
    "MINUTE",
    "MOD",
    "MONTH",
    "MONTHNAME",
    "NATURAL",
    "NCHAR",
    "NESTED",
    "NOT",
    "NOW",
    "NTH_VALUE",
    "NTILE",
    "NULLIF",
    "NUMERIC",
    "OCT",
    "OCTET_LENGTH",
    "ON",
    "OR",
    "ORD",
    "ORDINALITY",
    "OUTER",
    "OVER",
    "PARTITION",
    "PATH",
    "PERCENT_RANK",
    "PERIOD_ADD",
    "PERIOD_DIFF",
    "PI",
    "POSITION",
    "POW",
    "POWER",
    "QUARTER",
    "QUOTE",
    "RADIANS",
    "RAND",
    "RANK",
    "REAL",
    "RECURSIVE",
    "REGEXP_INSTR",
    "REGEXP_REPLACE",
    "REGEXP_SUBSTR",
    "REPEAT",
    "REPLACE",
    "REVERSE",
    "RIGHT",
    "ROUND",
    "ROW",
    "ROW_NUMBER",
    "RPAD",
    "RTRIM",
    "SCHEMA",
    "SECOND",
    "SEC_TO_TIME",
    "SELECT",
    "SESSION_USER",
    "SHA",
    "SHA1",
    "SHA2",
    "SIGN",
    "SIGNED",
    "SIN",
    "SLEEP",
    "SOME",
    "SOUNDEX",
    "SPACE",
    "SQRT",
    "STD",
    "STDDEV",
    "STDDEV_POP",
    "STDDEV_SAMP",
    "STRAIGHT_JOIN",
    "STRCMP",
    "STR_TO_DATE",
    "SUBDATE",
    "SUBSTR",
    "SUBSTRING",
    "SUBSTRING_INDEX",
    "SUBTIME",
    "SUM",
    "SYSDATE",
    "SYSTEM_USER",
    "TAN",
    "THEN",
    "TIME",
    "TIMEDIFF",
    "TIMESTAMP",
    "TIMESTAMPADD",
    "TIMESTAMPDIFF",
    "TIME_FORMAT",
    "TIME_TO_SEC",
    "TO_BASE64",
    "TO_DAYS",
    "TO_SECONDS",
    "TRIM",
    "TRUNCATE",
    "UCASE",
    "UNCOMPRESS",
    "UNCOMPRESSED_LENGTH",
    "UNHEX",
    "UNION",
    "UNIX_TIMESTAMP",
    "UNSIGNED",
    "UPPER",
    "USE",
    "USER",
    "USING",
    "UTC_DATE",
    "UTC_TIME",
    "UTC_TIMESTAMP",
    "UUID",
    "UUID_SHORT",
    "VALUES",
    "VARCHAR",
    "VARIANCE",
    "VAR_POP",
    "VAR_SAMP",
    "VERSION",
    "WEEK",
    "WEEKDAY",
    "WEEKOFYEAR",
    "WEIGHT_STRING",
    "WHEN",
    "WHERE",
    "WINDOW",
    "WITH",
    "XOR",
    "YEAR",
    "YEARWEEK",
];

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
    fn nothing_that_can_write_is_retried() {
        for sql in [
            // A stored function may insert.
            "SELECT bump()",
            "SELECT shop.bump(1)",
            "SELECT a FROM t WHERE b = f(a)",
            // Locking clauses, INTO and sequences, across any white space.
            "SELECT * FROM t FOR\nUPDATE",
            "SELECT * FROM t FOR\tSHARE",
            "SELECT * FROM t LOCK\n IN SHARE MODE",
            "SELECT a INTO OUTFILE '/tmp/x' FROM t",
            "SELECT a FROM t INTO\nOUTFILE '/tmp/x'",
            "SELECT NEXT\nVALUE FOR s",
            "SELECT NEXTVAL(s)",
            "SELECT SETVAL(s, 10)",
            "SELECT LASTVAL(s)",
            "SELECT PREVIOUS VALUE FOR s",
            "SELECT FOUND_ROWS()",
            "SELECT ROW_COUNT()",
            "WITH x AS (SELECT 1) DELETE FROM t",
            "SELECT 1 /*! , bump() */",
        ] {
            assert!(!c(sql).retryable(), "{sql}");
        }
    }

    #[test]
    fn words_in_strings_and_comments_do_not_count() {
        for sql in [
            "SELECT 'FOR UPDATE', \"bump()\" FROM t",
            "SELECT a /* FOR UPDATE */ FROM t",
            "SELECT a FROM t -- INTO @x\n",
            "SELECT `update`, `f`(1) FROM t",
            "SELECT COUNT(*), MAX(a), CONCAT(b, 'x'), NOW(), JSON_EXTRACT(j, '$.a') FROM t",
            "SELECT a FROM t WHERE b IN (1, 2) AND EXISTS (SELECT 1)",
            "SELECT CAST(a AS CHAR(10)), REPLACE(a, 'x', 'y') FROM t",
            "SELECT ROW_NUMBER() OVER (PARTITION BY a) FROM t",
        ] {
            assert!(c(sql).retryable(), "{sql}");
        }
    }

    #[test]
    fn reads_that_set_session_state_pin() {
        assert_eq!(c("SELECT @x := i FROM t").pins, Some("a user variable"));
        assert_eq!(c("SELECT i INTO @y FROM t").pins, Some("a user variable"));
        assert_eq!(c("SELECT i FROM t INTO @y").pins, Some("a user variable"));
        assert_eq!(
            c("CREATE OR REPLACE TEMPORARY TABLE t (a int)").pins,
            Some("a temporary table")
        );
        assert_eq!(c("SET @a = 1, @b := 2").pins, Some("a user variable"));
        assert_eq!(c("SET NAMES utf8mb4, @b = 2").pins, Some("a user variable"));
        assert_eq!(c("DO GET_LOCK('x', 0)").pins, Some("a named lock"));
        assert_eq!(c("HANDLER t OPEN").pins, Some("an open HANDLER"));
        assert_eq!(c("SELECT @x").pins, None);
        assert!(!c("SELECT @x").retryable());
    }

    #[test]
    fn the_builtin_list_is_sorted() {
        assert!(PURE.windows(2).all(|w| w[0] < w[1]));
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
