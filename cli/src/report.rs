//! A bench run as text tables, as one JSON object, and as a CSV of samples.
//!
//! The CSV format (`t_ms,latency_us,ok,host`, one line per finished statement) is read by
//! another tool's comparison script: keep it exactly.

use std::io::Write;
use std::path::Path;

use serde_json::json;

use crate::recorder::{Run, Summary};
use crate::table::{Table, num};

/// The header of a summary row, after its first column.
const SUMMARY_COLUMNS: [&str; 7] = [
    "statements",
    "errors",
    "stmt/s",
    "p50 ms",
    "p99 ms",
    "p99.9 ms",
    "max ms",
];

fn summary_row(first: String, s: &Summary) -> Vec<String> {
    vec![
        first,
        s.statements.to_string(),
        s.errors.to_string(),
        num(s.qps),
        num(s.p50_ms),
        num(s.p99_ms),
        num(s.p999_ms),
        num(s.max_ms),
    ]
}

fn summary_table(first: &str) -> Table {
    Table::new(std::iter::once(first).chain(SUMMARY_COLUMNS)).numeric(1)
}

/// Overall, per host and per second tables, the fault record and the library's events.
pub(crate) fn text(run: &Run, driver: &str) -> String {
    let overall = run.overall();
    let mut out = String::new();
    let mut t = summary_table("driver");
    t.row(summary_row(driver.to_owned(), &overall));
    out += &t.render();
    if overall.unfinished > 0 {
        out += &format!(
            "{} statements were still running at the end (counted in latency only)\n",
            overall.unfinished
        );
    }
    let mut t = summary_table("host");
    for (host, s) in run.per_host() {
        t.row(summary_row(host, &s));
    }
    out += "\nper host\n";
    out += &t.render();
    let mut t = summary_table("second");
    for sec in run.timeline() {
        t.row(summary_row(sec.second.to_string(), &sec.summary));
    }
    out += "\nper second (by statement start)\n";
    out += &t.render();
    if !run.faults.is_empty() {
        let mut t = Table::new([
            "fault",
            "server",
            "host",
            "planned ms",
            "at ms",
            "done ms",
            "error",
        ]);
        for e in &run.faults {
            t.row([
                e.action.to_owned(),
                e.server.to_string(),
                e.host.clone(),
                e.planned_ms.to_string(),
                e.at_ms.to_string(),
                e.done_ms.to_string(),
                e.error.clone().unwrap_or_default(),
            ]);
        }
        out += "\nfaults\n";
        out += &t.render();
    }
    out += &events_text(run);
    out
}

/// Most event rows in the text report; the JSON has them all.
const MAX_EVENT_ROWS: usize = 50;

/// The library's events under an "events" heading, like ones close together on one row;
/// nothing when there were none.
fn events_text(run: &Run) -> String {
    if run.events.is_empty() && run.events_missed == 0 {
        return String::new();
    }
    let mut t = Table::new(["at ms", "count", "event"]);
    for m in run.events.iter().take(MAX_EVENT_ROWS) {
        t.row([m.at_ms.to_string(), m.count.to_string(), m.text.clone()]);
    }
    let mut out = "\nevents (like events within 0.5 s on one row)\n".to_owned();
    out += &t.render();
    if run.events.len() > MAX_EVENT_ROWS {
        out += &format!(
            "... and {} more rows (--json has them all)\n",
            run.events.len() - MAX_EVENT_ROWS
        );
    }
    if run.events_missed > 0 {
        out += &format!(
            "{} events were missed (the collector fell behind)\n",
            run.events_missed
        );
    }
    out
}

/// One JSON object: the overall figures at the top level, `per_host`, `timeline`, `faults`,
/// `events` (`at_ms`, `label`, `text`, `count`) and `events_missed`.
pub(crate) fn json(run: &Run, driver: &str, sql: &str, concurrency: usize) -> serde_json::Value {
    let mut v = serde_json::to_value(run.overall()).unwrap_or_default();
    let extra = json!({
        "driver": driver,
        "sql": sql,
        "concurrency": concurrency,
        "duration_s": run.duration.as_secs_f64(),
        "hosts": run.hosts,
        "per_host": run.per_host(),
        "timeline": run.timeline(),
        "faults": run.faults,
        "events": run.events,
        "events_missed": run.events_missed,
    });
    if let (Some(obj), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
        obj.extend(extra.clone());
    }
    v
}

/// Writes one CSV line per finished statement: `t_ms,latency_us,ok,host`.
pub(crate) fn write_samples(run: &Run, path: &Path) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(w, "t_ms,latency_us,ok,host")?;
    for s in run.samples.iter().filter(|s| !s.unfinished) {
        let host = s.host.map_or("", |h| run.hosts[h as usize].as_str());
        writeln!(
            w,
            "{},{},{},{}",
            s.start_us / 1000,
            s.latency_us,
            u8::from(s.ok),
            host
        )?;
    }
    w.flush()
}
