//! `mysql-lb soak`: a minute of counted writes under random faults on three sandbox servers;
//! every answer a caller got must match the rows present.
//!
//! Takes about 70-90 s (60 s of load, server start-up, the reconciliation).

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Bound on the whole command: 60 s of load plus start-up, faults undone and the check.
const BOUND: Duration = Duration::from_secs(180);

/// The fields of `must_be_zero` the soak reports.
const MUST_BE_ZERO: &[&str] = &[
    "ok_missing",
    "duplicated",
    "split",
    "not_applied_present",
    "orphan_rows",
    "safety_net_hits",
    "app_connections_left",
];

/// What the command left.
struct Ran {
    code: Option<i32>,
    stdout: String,
    /// The fault log and any error message.
    stderr: String,
}

/// Reads a pipe to its end on a thread, so a full pipe cannot block the child while we wait.
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut out = String::new();
        let _ = pipe.read_to_string(&mut out);
        out
    })
}

/// Runs the command, killing it past [`BOUND`].
fn run_soak(args: &[&str]) -> Ran {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mysql-lb"))
        .arg("soak")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running mysql-lb soak");
    let stdout = drain(child.stdout.take().expect("stdout"));
    let stderr = drain(child.stderr.take().expect("stderr"));
    let give_up = Instant::now() + BOUND;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= give_up {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mysql-lb soak did not finish within {BOUND:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Ran {
        code: status.code(),
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

#[test]
fn soak_answers_match_the_data() {
    let ran = run_soak(&["--sandbox", "3", "-d", "60s", "--json"]);
    let report: Value = serde_json::from_str(ran.stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "not one JSON object ({e}): {}\nstderr:\n{}",
            ran.stdout, ran.stderr
        )
    });
    let ok_writes = report["writes"]["ok"].as_u64().expect("writes.ok");
    assert!(
        ok_writes > 0,
        "no write was told Ok: the soak did not run: {report:#}"
    );
    let faults: u64 = report["faults"]
        .as_object()
        .expect("faults")
        .values()
        .filter_map(Value::as_u64)
        .sum();
    assert!(faults > 0, "no fault was done: {report:#}");
    let must = &report["must_be_zero"];
    let bad: Vec<String> = MUST_BE_ZERO
        .iter()
        .map(|name| (name, must[name].as_u64()))
        .filter(|(_, n)| *n != Some(0))
        .map(|(name, n)| format!("{name} = {n:?}"))
        .collect();
    assert!(
        bad.is_empty(),
        "seed {}: {}\nsamples: {:#}\nerrors: {:#}\nfaults:\n{}",
        report["seed"],
        bad.join(", "),
        report["samples"],
        report["errors"],
        ran.stderr
    );
    assert_eq!(ran.code, Some(0), "exit code with every check at 0");
}
