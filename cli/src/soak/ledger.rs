//! Checking every answer against the rows present, and the soak's report.
//!
//! The rows are read from every server over admin sessions, straight to the server, and
//! merged: a key and part counted once across all servers is a write that happened once. The
//! rules follow from what each answer promises:
//! - Ok: every part of the key is present, exactly once.
//! - not applied: no part is present.
//! - unknown: either all parts or none; both are fine.
//! - whatever the answer, a transaction is never split (some parts present, others not) and
//!   no row is present twice.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use mysql_lb_sandbox::{APP_USER, Sandbox};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::chaos::{KINDS, Record};
use super::load::{Attempt, SAFETY_NET, Tally, Told};
use crate::table::{Table, num};

/// How long to wait for the servers to see the client's connections close.
const DRAIN_WAIT: Duration = Duration::from_secs(2);
/// Samples shown per violated row.
const SAMPLES: usize = 5;

/// Per key and part, how many rows each server holds.
pub(super) type Present = HashMap<(String, u8), Vec<u64>>;

/// Reads `SELECT k, part, COUNT(*)` from every server and merges them.
pub(super) async fn read_rows(sb: &Sandbox) -> Result<Present, String> {
    let mut present = Present::new();
    for i in 0..sb.len() {
        let rows = sb
            .sql(
                i,
                "SELECT k, part, COUNT(*) FROM lbsoak.soak GROUP BY k, part",
            )
            .await
            .map_err(|e| format!("reading the rows of server {i}: {e}"))?;
        for row in rows {
            let (Some(k), Some(part), Some(n)) = (
                row.get::<String, _>(0),
                row.get::<u8, _>(1),
                row.get::<u64, _>(2),
            ) else {
                return Err(format!("server {i} returned an unexpected row: {row:?}"));
            };
            present
                .entry((k, part))
                .or_insert_with(|| vec![0; sb.len()])[i] += n;
        }
    }
    Ok(present)
}

/// App connections each server still has, waiting up to [`DRAIN_WAIT`] for them to go (a
/// server notices a closed socket only when its thread next reads it). A server that cannot
/// be asked counts as `u64::MAX`, which fails the check.
pub(super) async fn app_connections_left(sb: &Sandbox) -> Vec<u64> {
    let give_up = Instant::now() + DRAIN_WAIT;
    let sql =
        format!("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '{APP_USER}'");
    loop {
        let mut left = Vec::with_capacity(sb.len());
        for i in 0..sb.len() {
            let n = match sb.sql(i, &sql).await {
                Ok(rows) => rows.first().and_then(|r| r.get::<u64, _>(0)),
                Err(_) => None,
            };
            left.push(n.unwrap_or(u64::MAX));
        }
        if left.iter().all(|&n| n == 0) || Instant::now() >= give_up {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// This process's resident set size in KiB (`VmRSS` of `/proc/self/status`).
pub(super) fn rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    line.trim().trim_end_matches("kB").trim().parse().ok()
}

/// What was run.
pub(super) struct Setup {
    pub(super) servers: usize,
    pub(super) tasks: usize,
    pub(super) duration: Duration,
    pub(super) seed: u64,
    pub(super) options: String,
}

/// The answers checked against the rows.
#[derive(Default)]
struct Verdict {
    ok_once: u64,
    ok_missing: u64,
    duplicated: u64,
    split: u64,
    not_applied_present: u64,
    unknown_present: u64,
    unknown_absent: u64,
    /// Rows of a key no attempt recorded: the soak lost track, or something wrote on its own.
    orphan_rows: u64,
    /// Examples per violated row: its name and a description of the attempt.
    samples: BTreeMap<&'static str, Vec<Value>>,
}

impl Verdict {
    fn check(attempts: &[Attempt], present: &Present) -> Verdict {
        let mut v = Verdict::default();
        let mut known: HashMap<&str, &Attempt> = HashMap::with_capacity(attempts.len());
        for a in attempts {
            known.insert(&a.key, a);
            v.check_one(a, present);
        }
        for ((key, part), per_server) in present {
            let total: u64 = per_server.iter().sum();
            if total > 1 {
                v.duplicated += 1;
                let sample = match known.get(key.as_str()) {
                    Some(a) => describe(a, present),
                    None => json!({"key": key, "part": part, "per_server": per_server}),
                };
                v.sample("present more than once", sample);
            }
            if !known.contains_key(key.as_str()) {
                v.orphan_rows += total;
                let sample = json!({"key": key, "part": part, "per_server": per_server});
                v.sample("rows of no recorded attempt", sample);
            }
        }
        v
    }

    fn check_one(&mut self, a: &Attempt, present: &Present) {
        let counts: Vec<u64> = (0..a.parts).map(|p| total(present, &a.key, p)).collect();
        let parts_present = counts.iter().filter(|&&n| n > 0).count();
        if parts_present > 0 && parts_present < counts.len() {
            self.split += 1;
            self.sample("transaction split", describe(a, present));
        }
        match a.told {
            Told::Ok if parts_present < counts.len() => {
                self.ok_missing += 1;
                self.sample("told Ok and missing", describe(a, present));
            }
            Told::Ok if counts.iter().all(|&n| n == 1) => self.ok_once += 1,
            Told::Ok => {} // present more than once: counted over the rows
            Told::NotApplied if parts_present > 0 => {
                self.not_applied_present += 1;
                self.sample("told not applied but present", describe(a, present));
            }
            Told::NotApplied => {}
            Told::Unknown if parts_present > 0 => self.unknown_present += 1,
            Told::Unknown => self.unknown_absent += 1,
        }
    }

    fn sample(&mut self, row: &'static str, sample: Value) {
        let list = self.samples.entry(row).or_default();
        if list.len() < SAMPLES {
            list.push(sample);
        }
    }
}

fn total(present: &Present, key: &str, part: u8) -> u64 {
    present
        .get(&(key.to_owned(), part))
        .map_or(0, |per_server| per_server.iter().sum())
}

/// An attempt and what is present of it: for each part, the rows on each server.
fn describe(a: &Attempt, present: &Present) -> Value {
    let parts: Vec<Value> = (0..a.parts)
        .map(|p| {
            present
                .get(&(a.key.clone(), p))
                .map_or_else(|| json!(0), |per_server| json!(per_server))
        })
        .collect();
    json!({
        "key": a.key,
        "at_ms": a.at_ms,
        "how": a.how,
        "via": a.via,
        "told": a.told,
        "failed_at": a.error.as_ref().map(|(at, _)| at),
        "error": a.error.as_ref().map(|(_, e)| e),
        "rows_per_part_per_server": parts,
    })
}

/// Everything the soak reports.
pub(super) struct Report {
    setup: Setup,
    tally: Tally,
    verdict: Verdict,
    faults: Vec<Record>,
    /// App connections per server after the disconnect.
    left: Vec<u64>,
    rss_kb: (Option<u64>, Option<u64>),
}

impl Report {
    pub(super) fn new(
        setup: Setup,
        tally: Tally,
        present: &Present,
        faults: Vec<Record>,
        left: Vec<u64>,
        rss_kb: (Option<u64>, Option<u64>),
    ) -> Report {
        let verdict = Verdict::check(&tally.attempts, present);
        Report {
            setup,
            tally,
            verdict,
            faults,
            left,
            rss_kb,
        }
    }

    fn left_total(&self) -> u64 {
        self.left.iter().fold(0u64, |a, &n| a.saturating_add(n))
    }

    /// The rows of the table, in the order of the question each answers.
    fn rows(&self) -> Vec<Row> {
        let v = &self.verdict;
        let t = &self.tally;
        let kb = |x: Option<u64>| x.map_or("?".to_owned(), |n| format!("{n} KiB"));
        let told = format!(
            "{} / {} / {}",
            self.told(Told::Ok),
            self.told(Told::NotApplied),
            self.told(Told::Unknown)
        );
        let reads = format!("{} / {}", t.reads_ok, t.reads_failed);
        let rss = format!("{} / {}", kb(self.rss_kb.0), kb(self.rss_kb.1));
        vec![
            Row::info("writes told Ok / not applied / unknown", told),
            Row::info("writes told Ok and present exactly once", v.ok_once),
            Row::zero("told Ok and missing", "ok_missing", v.ok_missing),
            Row::zero("present more than once", "duplicated", v.duplicated),
            Row::zero("transaction split", "split", v.split),
            Row::zero(
                "told not applied but present",
                "not_applied_present",
                v.not_applied_present,
            ),
            Row::info("told unknown, present", v.unknown_present),
            Row::info("told unknown, absent", v.unknown_absent),
            Row::zero("rows of no recorded attempt", "orphan_rows", v.orphan_rows),
            Row::info("reads ok / failed", reads),
            Row::zero(
                "statements hitting the 30 s safety net",
                "safety_net_hits",
                t.safety_net,
            ),
            Row::info("RSS at start / end", rss),
            Row::zero(
                "app connections left after disconnect",
                "app_connections_left",
                self.left_total(),
            ),
        ]
    }

    /// The rows that must be 0: JSON name and count.
    fn must_be_zero(&self) -> Vec<(&'static str, u64)> {
        self.rows()
            .into_iter()
            .filter_map(|r| r.must_be_zero)
            .collect()
    }

    /// How many checks failed (the sum of the rows that must be 0).
    pub(super) fn violations(&self) -> u64 {
        self.must_be_zero()
            .iter()
            .fold(0u64, |a, (_, n)| a.saturating_add(*n))
    }

    fn told(&self, told: Told) -> u64 {
        self.tally
            .attempts
            .iter()
            .filter(|a| a.told == told)
            .count() as u64
    }

    fn statements_per_s(&self) -> f64 {
        self.tally.statements as f64 / self.setup.duration.as_secs_f64()
    }

    fn fault_counts(&self) -> BTreeMap<&'static str, u64> {
        let mut counts: BTreeMap<&'static str, u64> = KINDS.iter().map(|k| (*k, 0)).collect();
        for f in &self.faults {
            *counts.entry(f.kind).or_default() += 1;
        }
        counts
    }

    /// The tables.
    pub(super) fn text(&self) -> String {
        let t = &self.tally;
        let mut table = Table::new(["row", "count", "must be"]).numeric(1);
        for row in self.rows() {
            let must = if row.must_be_zero.is_some() { "0" } else { "" };
            table.row([row.label.to_owned(), row.value, must.to_owned()]);
        }
        let mut out = table.render();
        out += &format!("app connections left per server: {:?}\n", self.left);
        out += &format!(
            "statements: {} in {:?} ({} /s)\n",
            t.statements,
            self.setup.duration,
            num(self.statements_per_s())
        );
        out += &self.faults_text();
        out += &self.errors_text();
        out += &self.samples_text();
        out += &format!(
            "{}: seed {}\n",
            if self.violations() == 0 {
                "PASS"
            } else {
                "FAIL"
            },
            self.setup.seed
        );
        out
    }

    fn faults_text(&self) -> String {
        let counts: Vec<String> = self
            .fault_counts()
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        format!("faults: {}\n", counts.join(", "))
    }

    fn errors_text(&self) -> String {
        if self.tally.errors.is_empty() {
            return "errors: none\n".to_owned();
        }
        let mut rows: Vec<(&String, &u64)> = self.tally.errors.iter().collect();
        rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let mut t = Table::new(["error (where: kind)", "count"]).numeric(1);
        for (kind, n) in rows {
            t.row([kind.clone(), n.to_string()]);
        }
        format!("\nerrors by kind\n{}", t.render())
    }

    fn samples_text(&self) -> String {
        let mut out = String::new();
        for (row, list) in &self.verdict.samples {
            out += &format!("\nsamples of `{row}`:\n");
            for s in list {
                out += &format!("  {s}\n");
            }
        }
        out
    }

    /// One JSON object with everything.
    pub(super) fn json(&self) -> Value {
        let v = &self.verdict;
        let t = &self.tally;
        let must: serde_json::Map<String, Value> = self
            .must_be_zero()
            .iter()
            .map(|(name, n)| ((*name).to_owned(), json!(n)))
            .collect();
        json!({
            "seed": self.setup.seed,
            "servers": self.setup.servers,
            "tasks": self.setup.tasks,
            "duration_s": self.setup.duration.as_secs_f64(),
            "options": self.setup.options,
            "safety_net_s": SAFETY_NET.as_secs(),
            "writes": {
                "ok": self.told(Told::Ok),
                "not_applied": self.told(Told::NotApplied),
                "unknown": self.told(Told::Unknown),
            },
            "ok_present_once": v.ok_once,
            "unknown_present": v.unknown_present,
            "unknown_absent": v.unknown_absent,
            "reads": {"ok": t.reads_ok, "failed": t.reads_failed},
            "must_be_zero": must,
            "violations": self.violations(),
            "app_connections_left_per_server": self.left,
            "rss_kb": {"start": self.rss_kb.0, "end": self.rss_kb.1},
            "statements": t.statements,
            "statements_per_s": self.statements_per_s(),
            "errors": t.errors,
            "faults": self.fault_counts(),
            "fault_log": self.faults,
            "samples": v.samples,
        })
    }
}

/// One row of the table.
struct Row {
    label: &'static str,
    value: String,
    /// For a row that must be 0: its JSON name and count.
    must_be_zero: Option<(&'static str, u64)>,
}

impl Row {
    fn info(label: &'static str, value: impl ToString) -> Row {
        Row {
            label,
            value: value.to_string(),
            must_be_zero: None,
        }
    }

    fn zero(label: &'static str, name: &'static str, n: u64) -> Row {
        Row {
            label,
            value: n.to_string(),
            must_be_zero: Some((name, n)),
        }
    }
}
