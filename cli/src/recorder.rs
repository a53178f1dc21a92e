//! What a bench records per statement, and the numbers made from it: throughput and latency
//! percentiles (HdrHistogram, microseconds, 3 significant digits) overall, per host and per
//! second of the run.
//!
//! Failed statements count in the latency figures too: a statement that failed after ten
//! seconds of reconnecting cost its caller ten seconds. Statements still running when the run
//! ended ("unfinished") count in latency with the time they had taken so far (a lower
//! bound), so a stall at the end is not hidden, but not as statements or errors.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// The longest latency a histogram holds: an hour, in microseconds.
const MAX_US: u64 = 3_600_000_000;

/// One statement.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    /// Start, in microseconds since the bench started.
    pub(crate) start_us: u64,
    pub(crate) latency_us: u64,
    pub(crate) ok: bool,
    /// Cut off by the end of the run.
    pub(crate) unfinished: bool,
    /// Index into [`Run::hosts`].
    pub(crate) host: Option<u16>,
}

/// Figures for a set of samples.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Summary {
    pub(crate) statements: u64,
    pub(crate) errors: u64,
    pub(crate) unfinished: u64,
    pub(crate) qps: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) p999_ms: f64,
    pub(crate) max_ms: f64,
}

/// Accumulates samples into a [`Summary`].
pub(crate) struct Acc {
    hist: Histogram<u64>,
    statements: u64,
    errors: u64,
    unfinished: u64,
}

impl Acc {
    pub(crate) fn new() -> Acc {
        Acc {
            // 1 µs to an hour at 3 significant digits; longer values are clamped to an hour.
            hist: Histogram::new_with_bounds(1, MAX_US, 3)
                .unwrap_or_else(|_| unreachable!("valid bounds")),
            statements: 0,
            errors: 0,
            unfinished: 0,
        }
    }

    pub(crate) fn add(&mut self, s: &Sample) {
        self.hist.saturating_record(s.latency_us.max(1));
        if s.unfinished {
            self.unfinished += 1;
        } else {
            self.statements += 1;
            if !s.ok {
                self.errors += 1;
            }
        }
    }

    /// The figures, with throughput over `seconds`.
    pub(crate) fn summary(&self, seconds: f64) -> Summary {
        let q = |p: f64| {
            if self.hist.is_empty() {
                0.0
            } else {
                self.hist.value_at_quantile(p) as f64 / 1000.0
            }
        };
        Summary {
            statements: self.statements,
            errors: self.errors,
            unfinished: self.unfinished,
            qps: if seconds > 0.0 {
                self.statements as f64 / seconds
            } else {
                0.0
            },
            p50_ms: q(0.5),
            p99_ms: q(0.99),
            p999_ms: q(0.999),
            max_ms: if self.hist.is_empty() {
                0.0
            } else {
                self.hist.max() as f64 / 1000.0
            },
        }
    }
}

/// A finished run: its samples, hosts, length, fault record and the library's events.
pub(crate) struct Run {
    pub(crate) hosts: Vec<String>,
    pub(crate) samples: Vec<Sample>,
    pub(crate) duration: Duration,
    pub(crate) faults: Vec<crate::faults::Event>,
    /// The library's events during the run (failovers, blacklistings, ...), merged.
    pub(crate) events: Vec<crate::marks::Mark>,
    /// Events lost because the collector fell behind.
    pub(crate) events_missed: u64,
}

/// One second of the timeline.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Second {
    pub(crate) second: u64,
    #[serde(flatten)]
    pub(crate) summary: Summary,
}

impl Run {
    /// Figures for the samples that started in `[from, to)`.
    pub(crate) fn window(&self, from: Duration, to: Duration) -> Summary {
        let (from_us, to_us) = (from.as_micros() as u64, to.as_micros() as u64);
        let mut acc = Acc::new();
        for s in self
            .samples
            .iter()
            .filter(|s| s.start_us >= from_us && s.start_us < to_us)
        {
            acc.add(s);
        }
        acc.summary((to.min(self.duration).saturating_sub(from)).as_secs_f64())
    }

    /// Figures for the whole run.
    pub(crate) fn overall(&self) -> Summary {
        self.window(Duration::ZERO, self.duration)
    }

    /// Figures per host that served (or failed) at least one statement.
    pub(crate) fn per_host(&self) -> BTreeMap<String, Summary> {
        let mut accs: BTreeMap<u16, Acc> = BTreeMap::new();
        for s in &self.samples {
            if let Some(h) = s.host {
                accs.entry(h).or_insert_with(Acc::new).add(s);
            }
        }
        let secs = self.duration.as_secs_f64();
        accs.into_iter()
            .map(|(h, acc)| (self.hosts[h as usize].clone(), acc.summary(secs)))
            .collect()
    }

    /// Figures per second of the run, by statement start; every second present, even empty.
    pub(crate) fn timeline(&self) -> Vec<Second> {
        let n = self.duration.as_secs_f64().ceil() as usize;
        let mut accs: Vec<Acc> = (0..n.max(1)).map(|_| Acc::new()).collect();
        for s in &self.samples {
            let i = ((s.start_us / 1_000_000) as usize).min(accs.len() - 1);
            accs[i].add(s);
        }
        let total = self.duration.as_secs_f64();
        accs.iter()
            .enumerate()
            .map(|(i, acc)| Second {
                second: i as u64,
                summary: acc.summary((total - i as f64).clamp(0.0, 1.0)),
            })
            .collect()
    }
}
