//! `mysql-lb status --watch` and the event marks of `mysql-lb bench`, against real MariaDB
//! servers: a server killed and restarted shows as "host blacklisted" and then "host back";
//! a bench with a kill lists the events in its report and labels them on its chart.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use mysql_lb_sandbox::{PASSWORD, Sandbox, USER};
use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mysql-lb"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("running mysql-lb")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// The line of `out` (after `from`) that contains `needle`, as an index.
fn find(lines: &[String], needle: &str, from: usize) -> Option<usize> {
    lines
        .iter()
        .skip(from)
        .position(|l| l.contains(needle))
        .map(|i| i + from)
}

#[test]
fn watch_prints_a_killed_host_blacklisted_then_back() {
    // The sandbox lives on this test's own runtime, which also does the restart.
    let rt = runtime();
    let sb = rt.block_on(Sandbox::start(2)).expect("sandbox starts");
    let url = format!(
        "mysql://{USER}:{PASSWORD}@127.0.0.1:{},127.0.0.1:{}/?connect_timeout=1s&blacklist_timeout=1s",
        sb.port(0),
        sb.port(1)
    );
    let started = Instant::now();
    let mut child = bin()
        .args([
            "status",
            "--watch",
            "--interval",
            "200ms",
            "--for",
            "6s",
            &url,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running mysql-lb status --watch");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, lines) = channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // Both hosts up at first, before any event.
    let first: Vec<String> = (0..2)
        .map(|_| {
            lines
                .recv_timeout(Duration::from_secs(10))
                .expect("a first line per host")
        })
        .collect();
    for port in [sb.port(0), sb.port(1)] {
        assert!(
            first
                .iter()
                .any(|l| l.contains(&format!("host up: 127.0.0.1:{port}"))),
            "{first:?}"
        );
    }
    std::thread::sleep(Duration::from_secs(1).saturating_sub(started.elapsed()));
    sb.kill(1);
    std::thread::sleep(Duration::from_secs(3).saturating_sub(started.elapsed()));
    rt.block_on(sb.restart(1)).expect("restart");
    let restarted = started.elapsed();

    let give_up = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() >= give_up {
            let _ = child.kill();
            panic!("mysql-lb status --watch did not end after --for 6s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let ended = started.elapsed();
    reader.join().expect("reader");
    let mut out = first;
    out.extend(lines.try_iter());
    let all = out.join("\n");
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
    }
    assert_eq!(status.code(), Some(0), "{all}\n{stderr}");
    let host1 = format!("127.0.0.1:{}", sb.port(1));
    let black = find(&out, &format!("host blacklisted: {host1}"), 2)
        .unwrap_or_else(|| panic!("no blacklisted line for {host1}:\n{all}"));
    let back = find(&out, &format!("host back: {host1}"), black + 1)
        .unwrap_or_else(|| panic!("no back line for {host1} after the blacklisting:\n{all}"));
    // Every event line starts with its time, `<unix secs>.<ms>`.
    for l in [&out[black], &out[back]] {
        let (stamp, _) = l.split_once(' ').expect("a time first");
        let (secs, ms) = stamp.split_once('.').expect("secs.ms");
        assert!(secs.parse::<u64>().is_ok() && ms.len() == 3, "{l}");
    }
    // The host that stayed up never left.
    let host0 = format!("127.0.0.1:{}", sb.port(0));
    assert!(
        find(&out, &format!("host blacklisted: {host0}"), 0).is_none(),
        "{all}"
    );
    // Each change once: the watch rechecks every 200 ms, and a renewal is no new event.
    assert_eq!(
        out.iter()
            .filter(|l| l.contains(&format!("host blacklisted: {host1}")))
            .count(),
        1,
        "{all}"
    );
    eprintln!("restart done at {restarted:?}, watch ended at {ended:?}\n{all}");
}

#[test]
fn watch_json_lines_and_bad_input() {
    // Nothing listens on this port: the host is down from the start.
    let port = mysql_lb_sandbox::fresh_port().expect("a free port");
    let url = format!("mysql://{USER}:{PASSWORD}@127.0.0.1:{port}/?connect_timeout=1s");
    let out = run(&[
        "status",
        "--watch",
        "--json",
        "--interval",
        "100ms",
        "--for",
        "1s",
        &url,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(lines.len() >= 2, "{lines:?}");
    let host = format!("127.0.0.1:{port}");
    assert_eq!(lines[0]["kind"], "initial");
    assert_eq!(lines[0]["host"], host.as_str());
    assert_eq!(lines[0]["up"], false);
    assert!(lines[0]["error"].is_string());
    let black = lines
        .iter()
        .find(|l| l["kind"] == "host_blacklisted")
        .unwrap_or_else(|| panic!("no host_blacklisted: {lines:?}"));
    assert_eq!(black["host"], host.as_str());
    assert!(black["at_ms"].as_u64().unwrap() > 1_600_000_000_000);
    assert!(black["timeout_ms"].as_u64().unwrap() > 0);
    assert!(black["reason"].is_string());
    assert!(
        black["text"]
            .as_str()
            .unwrap()
            .starts_with("host blacklisted: ")
    );

    for (args, part) in [
        (&["status", "--interval", "1s", &url][..], "--watch"),
        (&["status", "--for", "1s", &url][..], "--watch"),
        (
            &["status", "--watch", "--interval", "0s", &url][..],
            "--interval",
        ),
        (
            &["status", "--watch", "--interval", "soon", &url][..],
            "soon",
        ),
    ] {
        let out = run(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains(part),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn bench_lists_events_and_marks_them_on_the_chart() {
    let dir = std::env::temp_dir().join(format!("mysql-lb-watch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let svg = dir.join("out.svg");
    // Every task rebalances every 20 statements, so the killed server is seen at once
    // whichever servers the two tasks were on. No hedged reads: on a loaded machine a slow
    // first read on a fresh server can lose a hedge and blacklist that host before the kill,
    // and this test is about the kill's events.
    let out = run(&[
        "bench",
        "?autocommit_threshold=20&connect_timeout=1s&hedge=false",
        "--sandbox",
        "3",
        "-c",
        "2",
        "-d",
        "4s",
        "--fault",
        "kill:1@1s",
        "--plot",
        svg.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    // The killed server's address, from the fault record.
    let killed = stdout
        .lines()
        .find(|l| l.starts_with("| kill"))
        .and_then(|l| l.split('|').nth(3))
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|| panic!("no kill in the fault record:\n{stdout}"));
    assert!(killed.starts_with("127.0.0.1:"), "{killed}");
    let events = stdout
        .split_once("\nevents")
        .unwrap_or_else(|| panic!("no events heading:\n{stdout}"))
        .1;
    // At about 1 s into the run (the kill). An earlier row for the same host can come from
    // a hedge on a busy machine (a read not answered within its few milliseconds), so the
    // kill's row is looked for among them.
    let at: Vec<u64> = events
        .lines()
        .filter(|l| l.contains(&format!("host blacklisted: {killed}")))
        .map(|row| row.split('|').nth(1).unwrap().trim().parse().unwrap())
        .collect();
    assert!(
        at.iter().any(|ms| (1000..3000).contains(ms)),
        "{killed} not blacklisted after the kill: rows at {at:?} ms\n{stdout}"
    );
    let chart = std::fs::read_to_string(&svg).unwrap();
    assert!(
        chart.starts_with("<svg"),
        "{}",
        &chart[..100.min(chart.len())]
    );
    assert!(
        chart.contains(&format!("blacklisted {killed}")),
        "no marker label for {killed} in the chart"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
