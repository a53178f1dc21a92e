//! A Galera cluster of three real nodes under load, through a `GaleraPool` with the library's
//! defaults (`galera_writers=single`, `strategy=random`, `health_check_interval=1s`). Prints
//! figures; asserts nothing. Each part starts a cluster of its own.
//!
//! 1. **Kill**: 6 readers (a primary-key `SELECT`) and 2 writers (a two-row transaction) run
//!    for `SECS` seconds; after a third of it the writer node is SIGKILLed. Printed: what
//!    callers were told, per kind; read and write latency before and after; answers the rows
//!    contradict (told done and absent, told not applied and present), rows doubled or
//!    split. Reads are text queries: a prepared statement is never retried elsewhere.
//! 2. **Isolation**: the same readers; one node is cut from the other two
//!    (`gmcast.isolate=1`). Printed: when it reported non-Primary, and the last statement
//!    sent to it after that (answered or not, from the pool's statistics).
//! 3. **Hot table**: 8 tasks run short transactions that each update two of 4 rows, for
//!    `SECS` seconds, with `galera_writers=single` and then `all`, `ROUNDS` times alternately.
//!    Printed: transactions per second and `TransactionRolledBack` (certification conflicts
//!    and brute-force aborts) per 1,000.
//!
//! The sandbox's failure detector waits `evs.suspect_timeout` (see `docs/galera-sandbox.md`)
//! before a silent node is dropped from the view; until then the cluster cannot commit, so
//! the kill's worst write latency is about that timeout, whatever the client does.
//!
//! `cargo bench --bench galera`; env: `SECS` (9), `ROUNDS` (2).

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{env, loadavg};
use hdrhistogram::Histogram;
use mysql_async::prelude::Queryable;
use mysql_lb::{DataOutcome, Error, GaleraPool, LbOpts};
use mysql_lb_sandbox::Sandbox;

fn opts(sb: &Sandbox, options: &str) -> LbOpts {
    format!("{}?{options}", sb.galera_url())
        .parse()
        .expect("bench URL")
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

async fn cluster() -> Sandbox {
    let t = Instant::now();
    let sb = Sandbox::start_galera(3).await.expect("a Galera cluster");
    sb.exec(
        0,
        "CREATE DATABASE IF NOT EXISTS app; USE app; \
         CREATE TABLE app.r (id INT PRIMARY KEY, v INT NOT NULL); \
         INSERT INTO app.r SELECT seq, 0 FROM seq_1_to_100; \
         CREATE TABLE app.ledger (id BIGINT AUTO_INCREMENT PRIMARY KEY, \
           k VARCHAR(40) NOT NULL, part TINYINT NOT NULL, KEY (k)); \
         CREATE TABLE app.hot (id INT PRIMARY KEY, v BIGINT NOT NULL); \
         INSERT INTO app.hot VALUES (1, 0), (2, 0), (3, 0), (4, 0)",
    )
    .await
    .expect("tables");
    println!(
        "  (3 nodes started in {:.1?}; load average {})",
        t.elapsed(),
        loadavg()
    );
    sb
}

/// The node the single writer is: the lowest `wsrep_local_index`.
async fn writer_node(sb: &Sandbox) -> usize {
    let mut best = (0, u32::MAX);
    for i in 0..sb.len() {
        let s = sb.galera_state(i).await.expect("state");
        let index = s.local_index.unwrap_or(u32::MAX);
        if index < best.1 {
            best = (i, index);
        }
    }
    best.0
}

/// What callers were told, and how long reads and writes took before and after the fault.
#[derive(Default)]
struct Tally {
    told: BTreeMap<String, u64>,
    /// By (`"read"` or `"write"`, after the fault).
    took: BTreeMap<(&'static str, bool), Histogram<u64>>,
}

impl Tally {
    fn record(&mut self, side: &'static str, what: &str, took: Duration, after_fault: bool) {
        *self.told.entry(format!("{side}: {what}")).or_default() += 1;
        self.took
            .entry((side, after_fault))
            .or_insert_with(|| Histogram::new(3).expect("histogram"))
            .record(took.as_micros() as u64)
            .ok();
    }

    fn merge(&mut self, other: Tally) {
        for (k, n) in other.told {
            *self.told.entry(k).or_default() += n;
        }
        for (k, h) in other.took {
            match self.took.get_mut(&k) {
                Some(mine) => mine.add(&h).expect("same bounds"),
                None => {
                    self.took.insert(k, h);
                }
            }
        }
    }

    fn latency(&self, side: &'static str, after_fault: bool) -> String {
        match self.took.get(&(side, after_fault)) {
            Some(h) => format!(
                "{side}s p50 {:.2} ms, p99 {:.2} ms, worst {:.1} ms",
                ms(h.value_at_quantile(0.5)),
                ms(h.value_at_quantile(0.99)),
                ms(h.max())
            ),
            None => format!("no {side}s"),
        }
    }
}

/// A short name for an error, by what the caller can do with it.
fn kind(e: &Error) -> String {
    let name = match e {
        Error::TransactionLost { .. } => "TransactionLost",
        Error::CommitUnknown { .. } => "CommitUnknown",
        Error::WriteNotRetried { .. } => "WriteNotRetried",
        Error::TransactionRolledBack { .. } => "TransactionRolledBack",
        Error::AllHostsFailed(_) => "AllHostsFailed",
        Error::Timeout { .. } => "Timeout",
        Error::PoolExhausted { .. } => "PoolExhausted",
        Error::Mysql(mysql_async::Error::Server(s)) => return format!("server error {}", s.code),
        Error::Mysql(_) => "driver error",
        _ => "other",
    };
    name.to_owned()
}

/// `n` readers until `stop`, each read timed as before or after the fault.
fn readers(
    pool: &GaleraPool,
    n: usize,
    stop: &Arc<AtomicBool>,
    fault: &Arc<std::sync::Mutex<Option<Instant>>>,
) -> Vec<tokio::task::JoinHandle<Tally>> {
    (0..n)
        .map(|task| {
            let (pool, stop, fault) = (pool.clone(), stop.clone(), fault.clone());
            tokio::spawn(async move {
                let mut tally = Tally::default();
                let mut n = task as u32;
                while !stop.load(Ordering::Relaxed) {
                    n = n.wrapping_add(7);
                    let id = n % 100 + 1;
                    let t = Instant::now();
                    let r = async {
                        let mut c = pool.reader().get_conn().await?;
                        // Text, as a prepared statement is never retried on another node.
                        let row: Option<(i64, u16)> = c
                            .query_first(format!("SELECT v, @@port FROM app.r WHERE id = {id}"))
                            .await
                            .map_err(Error::from_mysql_owned)?;
                        Ok::<_, Error>(row.map_or(0, |r| r.1))
                    }
                    .await;
                    let after = fault.lock().unwrap().is_some_and(|f| t >= f);
                    match r {
                        Ok(_) => tally.record("read", "ok", t.elapsed(), after),
                        Err(e) => tally.record("read", &kind(&e), t.elapsed(), after),
                    }
                }
                tally
            })
        })
        .collect()
}

/// Part 1.
async fn kill(secs: u64) {
    println!("== 1. the writer node SIGKILLed under 6 readers and 2 writers ({secs} s) ==");
    let sb = cluster().await;
    let pool = GaleraPool::new(opts(&sb, "connect_timeout=1s"))
        .await
        .expect("pool");
    let stop = Arc::new(AtomicBool::new(false));
    let fault = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let reads = readers(&pool, 6, &stop, &fault);
    let writes: Vec<_> = (0..2)
        .map(|task| {
            let (pool, stop, fault) = (pool.clone(), stop.clone(), fault.clone());
            tokio::spawn(async move {
                let mut tally = Tally::default();
                let mut outcomes = Vec::new();
                let mut n = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let k = format!("w{task}-{n}");
                    let t = Instant::now();
                    let r = async {
                        let mut c = pool.writer().get_conn().await?;
                        let mut tx = c.start_transaction(Default::default()).await?;
                        for part in 0..2u8 {
                            tx.exec_drop(
                                "INSERT INTO app.ledger (k, part) VALUES (?, ?)",
                                (&k, part),
                            )
                            .await
                            .map_err(Error::from_mysql_owned)?;
                        }
                        tx.commit().await
                    }
                    .await;
                    let after = fault.lock().unwrap().is_some_and(|f| t >= f);
                    match r {
                        Ok(()) => {
                            tally.record("write", "ok", t.elapsed(), after);
                            outcomes.push((k, None));
                        }
                        Err(e) => {
                            tally.record("write", &kind(&e), t.elapsed(), after);
                            outcomes.push((k, Some(Error::outcome(&e.into_mysql()))));
                        }
                    }
                }
                (tally, outcomes)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(secs / 3)).await;
    let victim = writer_node(&sb).await;
    *fault.lock().unwrap() = Some(Instant::now());
    sb.kill(victim);
    tokio::time::sleep(Duration::from_secs(secs - secs / 3)).await;
    stop.store(true, Ordering::Relaxed);
    let mut tally = Tally::default();
    for r in reads {
        tally.merge(r.await.expect("reader"));
    }
    let mut outcomes = Vec::new();
    for w in writes {
        let (t, o) = w.await.expect("writer");
        tally.merge(t);
        outcomes.extend(o);
    }
    pool.disconnect().await;
    // The rows, on a survivor (all survivors hold the same).
    let survivor = (victim + 1) % 3;
    let rows = sb
        .sql(
            survivor,
            "SET STATEMENT wsrep_sync_wait = 1 FOR \
             SELECT k, COUNT(*), COUNT(DISTINCT part) FROM app.ledger GROUP BY k",
        )
        .await
        .expect("rows");
    let present: HashMap<String, (u64, u64)> = rows
        .into_iter()
        .map(|r| {
            let (k, n, p): (String, u64, u64) = mysql_async::from_row(r);
            (k, (n, p))
        })
        .collect();
    let (mut lost, mut doubled, mut split, mut unknown_present, mut unknown_absent) =
        (0, 0, 0, 0, 0);
    for (k, outcome) in &outcomes {
        let got = present.get(k).copied();
        match got {
            Some((n, _)) if n > 2 => doubled += 1,
            Some((2, 2)) | None => {}
            Some(_) => split += 1,
        }
        match (outcome, got.is_some()) {
            (None, false) | (Some(DataOutcome::NotApplied), true) => lost += 1,
            (Some(DataOutcome::Unknown), true) => unknown_present += 1,
            (Some(DataOutcome::Unknown), false) => unknown_absent += 1,
            _ => {}
        }
    }
    let attempted: std::collections::HashSet<&String> = outcomes.iter().map(|o| &o.0).collect();
    let strays = present.keys().filter(|k| !attempted.contains(k)).count();
    println!("  killed node {victim} (the writer)");
    println!("  told: {:?}", tally.told);
    for side in ["read", "write"] {
        println!(
            "  {}; from the kill on: {}",
            tally.latency(side, false),
            tally.latency(side, true)
        );
    }
    println!(
        "  rows: answers contradicted by the rows {lost}, doubled {doubled}, split {split}, \
         rows of no attempt {strays}; unknown outcomes present {unknown_present}, absent \
         {unknown_absent}"
    );
}

/// Part 2.
async fn isolate(secs: u64) {
    println!("== 2. a node cut off from the other two under 6 readers ({secs} s) ==");
    let sb = cluster().await;
    let pool = GaleraPool::new(opts(&sb, "")).await.expect("pool");
    let stop = Arc::new(AtomicBool::new(false));
    let fault = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let reads = readers(&pool, 6, &stop, &fault);
    tokio::time::sleep(Duration::from_secs(secs / 3)).await;
    let victim = (writer_node(&sb).await + 1) % 3;
    let port = sb.port(victim);
    // Statements sent to the victim, answered or not (a read that meets 1047 is retried on
    // another node and its caller sees nothing), sampled every 10 ms.
    let sent = || {
        pool.stats()
            .into_iter()
            .find(|s| s.addr.port() == port)
            .map_or(0, |s| s.statements + s.errors)
    };
    let asked = Instant::now();
    *fault.lock().unwrap() = Some(asked);
    let cut = {
        let sb = &sb;
        async move { sb.isolate(victim).await.expect("isolate") }
    };
    tokio::pin!(cut);
    let mut non_primary = None;
    let mut last_change = asked;
    let mut count = sent();
    let end = asked + Duration::from_secs(secs - secs / 3);
    while Instant::now() < end {
        if non_primary.is_none() {
            tokio::select! {
                () = &mut cut => non_primary = Some(Instant::now()),
                () = tokio::time::sleep(Duration::from_millis(10)) => {}
            }
        } else {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let now = sent();
        if now != count {
            count = now;
            last_change = Instant::now();
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut tally = Tally::default();
    for r in reads {
        tally.merge(r.await.expect("reader"));
    }
    pool.disconnect().await;
    match non_primary {
        Some(np) => {
            println!(
                "  node {victim} reported non-Primary {:.2?} after it was cut off",
                np - asked
            );
            if last_change > np {
                println!(
                    "  the last statement sent to it went {:.0?} after it lost quorum",
                    last_change - np
                );
            } else {
                println!("  no statement was sent to it after it lost quorum");
            }
        }
        None => println!("  node {victim} did not report non-Primary within the run"),
    }
    println!("  told: {:?}", tally.told);
    println!(
        "  before the cut: {}; from the cut on: {}",
        tally.latency("read", false),
        tally.latency("read", true)
    );
}

/// One hot-table run; (transactions per second, rolled back per 1,000).
async fn hot_round(sb: &Sandbox, writers: &str, secs: u64) -> (f64, f64, BTreeMap<String, u64>) {
    let pool = GaleraPool::new(opts(sb, &format!("galera_writers={writers}")))
        .await
        .expect("pool");
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..8u32)
        .map(|task| {
            let (pool, stop) = (pool.clone(), stop.clone());
            tokio::spawn(async move {
                let mut told: BTreeMap<String, u64> = BTreeMap::new();
                let mut n = task;
                while !stop.load(Ordering::Relaxed) {
                    n = n.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    let (a, b) = (n % 4 + 1, (n / 4) % 4 + 1);
                    let r = async {
                        let mut c = pool.writer().get_conn().await?;
                        let mut tx = c.start_transaction(Default::default()).await?;
                        for id in [a.min(b), a.max(b)] {
                            tx.exec_drop("UPDATE app.hot SET v = v + 1 WHERE id = ?", (id,))
                                .await
                                .map_err(Error::from_mysql_owned)?;
                        }
                        tx.commit().await
                    }
                    .await;
                    let what = match r {
                        Ok(()) => "ok".to_owned(),
                        Err(e) => kind(&e),
                    };
                    *told.entry(what).or_default() += 1;
                }
                told
            })
        })
        .collect();
    let t = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut told: BTreeMap<String, u64> = BTreeMap::new();
    for task in tasks {
        for (k, n) in task.await.expect("task") {
            *told.entry(k).or_default() += n;
        }
    }
    let elapsed = t.elapsed().as_secs_f64();
    pool.disconnect().await;
    let all: u64 = told.values().sum();
    let ok = told.get("ok").copied().unwrap_or(0);
    let rolled = told.get("TransactionRolledBack").copied().unwrap_or(0);
    (
        ok as f64 / elapsed,
        rolled as f64 * 1000.0 / all.max(1) as f64,
        told,
    )
}

/// Part 3.
async fn hot(secs: u64, rounds: u64) {
    println!(
        "== 3. 8 tasks, transactions updating 2 of 4 hot rows, single writer vs all ({secs} s \
         each, {rounds} rounds) =="
    );
    let sb = cluster().await;
    for round in 1..=rounds {
        for writers in ["single", "all"] {
            let (tps, per_1000, told) = hot_round(&sb, writers, secs).await;
            println!(
                "  round {round}, galera_writers={writers}: {tps:.0} committed/s, rolled back by \
                 the cluster {per_1000:.1} per 1,000; told {told:?} (load {})",
                loadavg()
            );
        }
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let secs = env("SECS", 9).max(3);
    let rounds = env("ROUNDS", 2).max(1);
    println!("load average at start: {}", loadavg());
    kill(secs).await;
    isolate(secs).await;
    hot(secs, rounds).await;
    println!("load average at the end: {}", loadavg());
}
