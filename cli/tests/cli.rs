//! The `mysql-lb` binary against real MariaDB servers: `query`, `shell`, `status`, `bench`,
//! `demo`, their exit codes (0 ok, 1 failure, 2 bad input) and output formats.
//!
//! Read-only checks share one sandbox started once for this test binary (a `static`; the
//! sandbox's exit hook stops it). Tests that kill servers start their own.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use mysql_lb_sandbox::{PASSWORD, Sandbox, USER};
use serde_json::Value;

/// Two servers shared by the tests that do not hurt them.
static SHARED: LazyLock<Sandbox> = LazyLock::new(|| start_sandbox(2));

fn start_sandbox(n: usize) -> Sandbox {
    // Its own runtime on its own thread: the tests are plain #[test] functions.
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(Sandbox::start(n))
            .expect("sandbox starts")
    })
    .join()
    .expect("sandbox thread")
}

fn url_of(sb: &Sandbox, hosts: &[usize], options: &str) -> String {
    let hosts: Vec<String> = hosts
        .iter()
        .map(|&i| format!("127.0.0.1:{}", sb.port(i)))
        .collect();
    format!("mysql://{USER}:{PASSWORD}@{}/?{options}", hosts.join(","))
}

fn shared_url() -> String {
    url_of(&SHARED, &[0, 1], "connect_timeout=2s")
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mysql-lb"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("running mysql-lb")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

fn json_of(out: &Output) -> Value {
    serde_json::from_str(&text(&out.stdout))
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", text(&out.stdout)))
}

/// A 127.0.0.1 port that nothing listens on (bound, then released), and that no sandbox
/// server of this process will be given later.
fn closed_port() -> u16 {
    mysql_lb_sandbox::fresh_port().expect("a free port")
}

fn closed_url() -> String {
    format!(
        "mysql://{USER}:{PASSWORD}@127.0.0.1:{}/?connect_timeout=1s",
        closed_port()
    )
}

#[test]
fn help_on_every_subcommand() {
    for sub in ["parse", "query", "shell", "status", "bench", "demo"] {
        let out = run(&[sub, "--help"]);
        assert_eq!(code(&out), Some(0), "{sub}: {}", text(&out.stderr));
        assert!(
            text(&out.stdout).contains("Usage"),
            "{sub}: {}",
            text(&out.stdout)
        );
    }
}

#[test]
fn query_prints_a_table_with_null_and_the_serving_host() {
    let out = run(&[
        "query",
        &shared_url(),
        "SELECT 1 AS a, NULL AS b, 'x y' AS c",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(code(&out), Some(0), "{}", text(&out.stderr));
    assert!(stdout.contains("| a | b    | c   |"), "{stdout}");
    assert!(stdout.contains("| 1 | NULL | x y |"), "{stdout}");
    let served = stdout.lines().last().expect("a last line");
    let ports = [SHARED.port(0), SHARED.port(1)];
    assert!(
        ports
            .iter()
            .any(|p| served.starts_with(&format!("-- served by 127.0.0.1:{p}, 1 row, "))),
        "{served}"
    );
}

#[test]
fn query_without_rows_prints_affected_rows() {
    let out = run(&["query", &shared_url(), "SET @x = 1"]);
    assert_eq!(code(&out), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("0 rows affected"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn query_bad_sql_is_bad_input() {
    let out = run(&["query", &shared_url(), "SELEC 1"]);
    assert_eq!(code(&out), Some(2));
    assert!(text(&out.stderr).contains("1064"), "{}", text(&out.stderr));
}

#[test]
fn query_bad_url_is_bad_input() {
    let out = run(&["query", "mysql://h1:notaport/db", "SELECT 1"]);
    assert_eq!(code(&out), Some(2));
    assert!(
        text(&out.stderr).contains("notaport"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn query_with_no_reachable_host_fails() {
    let out = run(&["query", &closed_url(), "SELECT 1"]);
    assert_eq!(code(&out), Some(1), "{}", text(&out.stderr));
}

#[test]
fn status_json_reports_every_host() {
    let closed = closed_port();
    let url = format!(
        "mysql://{USER}:{PASSWORD}@127.0.0.1:{},127.0.0.1:{closed}/?connect_timeout=1s",
        SHARED.port(0)
    );
    let out = run(&["status", &url, "--json"]);
    assert_eq!(code(&out), Some(0), "{}", text(&out.stderr));
    let json = json_of(&out);
    assert_eq!(json["reachable"], 1);
    let up = &json["hosts"][0];
    assert_eq!(up["host"], format!("127.0.0.1:{}", SHARED.port(0)));
    assert_eq!(up["reachable"], true);
    assert!(up["version"].as_str().unwrap().contains("MariaDB"), "{up}");
    assert_eq!(up["read_only"], false);
    assert_eq!(up["replica"], false);
    assert!(up["rtt_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(up["blacklisted"], false);
    let down = &json["hosts"][1];
    assert_eq!(down["reachable"], false);
    assert!(down["error"].is_string());
}

#[test]
fn status_table_and_no_reachable_host() {
    let out = run(&["status", &shared_url()]);
    assert_eq!(code(&out), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("| host "),
        "{}",
        text(&out.stdout)
    );
    let out = run(&["status", &closed_url()]);
    assert_eq!(code(&out), Some(1));
    assert!(text(&out.stdout).contains("no: "), "{}", text(&out.stdout));
}

#[test]
fn bench_json_has_the_documented_fields() {
    let out = run(&["bench", &shared_url(), "-c", "2", "-d", "1s", "--json"]);
    assert_eq!(code(&out), Some(0), "{}", text(&out.stderr));
    let json = json_of(&out);
    for f in ["qps", "errors", "p50_ms", "p99_ms", "p999_ms", "max_ms"] {
        assert!(json[f].is_number(), "{f} in {json}");
    }
    assert!(json["qps"].as_f64().unwrap() > 0.0);
    let per_host = json["per_host"].as_object().expect("per_host object");
    assert!(!per_host.is_empty());
    for (host, v) in per_host {
        assert!(host.starts_with("127.0.0.1:"), "{host}");
        for f in ["statements", "errors", "qps", "p50_ms", "p99_ms", "max_ms"] {
            assert!(v[f].is_number(), "{f} in {v}");
        }
    }
    let timeline = json["timeline"].as_array().expect("timeline list");
    assert_eq!(timeline.len(), 1, "one entry per second of a 1 s run");
    for f in [
        "second",
        "statements",
        "errors",
        "p50_ms",
        "p99_ms",
        "max_ms",
    ] {
        assert!(timeline[0][f].is_number(), "{f} in {}", timeline[0]);
    }
    assert!(json["faults"].as_array().expect("faults list").is_empty());
}

#[test]
fn bench_autoreconnect_driver_runs() {
    let json = bench_json("autoreconnect");
    assert_eq!(json["driver"], "autoreconnect");
    assert!(json["qps"].as_f64().unwrap() > 0.0);
}

/// Every runtime choice runs the same workload to the end: one single-threaded runtime,
/// several (tasks dealt among them; by default one per core, at most one per task), and the
/// work-stealing one (by default one worker per core).
#[test]
fn bench_runtime_choices_run() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    for (runtime, threads) in [
        ("current-thread", None),
        ("current-thread", Some("1")),
        ("current-thread", Some("3")),
        ("multi-thread", None),
        ("multi-thread", Some("1")),
    ] {
        let url = shared_url();
        let mut args = vec![
            "bench",
            &url,
            "-c",
            "4",
            "-d",
            "1s",
            "--json",
            "--runtime",
            runtime,
        ];
        if let Some(n) = threads {
            args.extend(["--threads", n]);
        }
        let out = run(&args);
        assert_eq!(code(&out), Some(0), "{args:?}: {}", text(&out.stderr));
        let json = json_of(&out);
        assert_eq!(json["runtime"], runtime);
        let expect: u64 = match (runtime, threads) {
            (_, Some(n)) => n.parse().unwrap(),
            ("current-thread", None) => cores.min(4),
            _ => cores,
        };
        assert_eq!(json["threads"], expect, "{args:?}");
        assert_eq!(json["errors"], 0, "{args:?}: {json}");
        assert!(json["qps"].as_f64().unwrap() > 0.0, "{args:?}: {json}");
    }
    for bad in ["0", "100000"] {
        let out = run(&["bench", &shared_url(), "-d", "1s", "--threads", bad]);
        assert_eq!(
            code(&out),
            Some(2),
            "--threads {bad}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains("--threads"),
            "{}",
            text(&out.stderr)
        );
    }
    let out = run(&["bench", &shared_url(), "-d", "1s", "--runtime", "fibers"]);
    assert_eq!(code(&out), Some(2), "{}", text(&out.stderr));
}

/// `mysql-lb bench --driver <driver> --json`, 2 tasks for 1 s on the shared servers; it must
/// exit 0.
fn bench_json(driver: &str) -> Value {
    let out = run(&[
        "bench",
        &shared_url(),
        "-c",
        "2",
        "-d",
        "1s",
        "--json",
        "--driver",
        driver,
    ]);
    assert_eq!(code(&out), Some(0), "{}", text(&out.stderr));
    json_of(&out)
}

/// The plain mysql_async driver: task i on host i mod N, so with two tasks and two hosts
/// both hosts serve.
#[test]
fn bench_plain_mysql_async_driver_runs() {
    let json = bench_json("mysql-async");
    assert_eq!(json["driver"], "mysql_async");
    assert_eq!(json["errors"], 0, "{json}");
    let per_host = json["per_host"].as_object().expect("per_host object");
    assert_eq!(per_host.len(), 2, "{json}");
    for (host, s) in per_host {
        assert!(s["statements"].as_u64().unwrap() > 0, "{host}: {json}");
    }
}

#[test]
fn bench_samples_csv_and_png_chart() {
    let dir = std::env::temp_dir().join(format!("mysql-lb-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (csv, png) = (dir.join("s.csv"), dir.join("c.png"));
    let out = run(&[
        "bench",
        &shared_url(),
        "-c",
        "2",
        "-d",
        "1s",
        "--samples",
        csv.to_str().unwrap(),
        "--plot",
        png.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("per second"),
        "{}",
        text(&out.stdout)
    );
    let samples = std::fs::read_to_string(&csv).unwrap();
    let mut lines = samples.lines();
    assert_eq!(lines.next(), Some("t_ms,latency_us,ok,host"));
    let rows: Vec<&str> = lines.collect();
    assert!(!rows.is_empty());
    let ports = [SHARED.port(0), SHARED.port(1)];
    for row in &rows {
        let f: Vec<&str> = row.split(',').collect();
        assert_eq!(f.len(), 4, "{row}");
        assert!(f[0].parse::<u64>().unwrap() < 1000, "{row}");
        f[1].parse::<u64>().unwrap();
        assert_eq!(f[2], "1", "{row}");
        assert!(
            ports.iter().any(|p| f[3] == format!("127.0.0.1:{p}")),
            "{row}"
        );
    }
    let bytes = std::fs::read(&png).unwrap();
    assert!(
        bytes.len() > 1000 && bytes.starts_with(b"\x89PNG"),
        "{} bytes",
        bytes.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bench_bad_input() {
    let url = shared_url();
    let cases: [(&[&str], &str); 5] = [
        (
            &["bench", "--sandbox", "2", "--fault", "explode:1@1s"],
            "explode",
        ),
        (
            &["bench", "--sandbox", "2", "--fault", "kill:db1@1s"],
            "db1",
        ),
        (
            &["bench", "--sandbox", "2", "--fault", "pause:1@3s"],
            "FROM-TO",
        ),
        (&["bench", &url, "--fault", "kill:1@1s"], "--sandbox"),
        (&["bench", "nope://x", "-d", "1s"], "scheme"),
    ];
    for (args, part) in cases {
        let out = run(args);
        assert_eq!(code(&out), Some(2), "{args:?}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains(part),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let out = run(&[
        "bench",
        "--sandbox",
        "2",
        "--fault",
        "kill:7@1s",
        "-d",
        "1s",
    ]);
    assert_eq!(code(&out), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("fault host 7"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn bench_with_no_reachable_host_fails() {
    let out = run(&["bench", &closed_url(), "-d", "1s"]);
    assert_eq!(code(&out), Some(1), "{}", text(&out.stderr));
}

#[test]
fn bench_sandbox_records_its_faults() {
    let out = run(&[
        "bench",
        "?socket_timeout=1s&connect_timeout=1s",
        "--sandbox",
        "2",
        "-c",
        "2",
        "-d",
        "2s",
        "--fault",
        "kill:1@500ms",
        "--fault",
        "pause:0@1s-1500ms",
        "--json",
    ]);
    assert_eq!(code(&out), Some(0), "{}", text(&out.stderr));
    let json = json_of(&out);
    let faults = json["faults"].as_array().expect("faults");
    let actions: Vec<&str> = faults
        .iter()
        .map(|f| f["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["kill", "pause", "resume"]);
    assert!(faults[0]["at_ms"].as_u64().unwrap() >= 500);
    assert!(json["qps"].as_f64().unwrap() > 0.0);
}

/// Lines a child prints, collected by a reader thread.
struct Transcript(Arc<Mutex<String>>);

impl Transcript {
    fn of(child: &mut Child) -> Transcript {
        let out = Arc::new(Mutex::new(String::new()));
        let stdout = child.stdout.take().expect("piped stdout");
        let sink = out.clone();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut buf = Vec::new();
            // Prompts end without a newline: read whatever arrives.
            while let Ok(n) = r.read_until(b' ', &mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf));
                buf.clear();
            }
        });
        Transcript(out)
    }

    fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }

    /// Waits (at most 30 s) until the transcript holds `n` occurrences of `needle`.
    fn wait_for(&self, needle: &str, n: usize) -> String {
        let give_up = Instant::now() + Duration::from_secs(30);
        loop {
            let t = self.text();
            if t.matches(needle).count() >= n {
                return t;
            }
            assert!(Instant::now() < give_up, "no {n}× `{needle}` in:\n{t}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The port in the last `-- served by 127.0.0.1:PORT` line.
fn last_served_port(t: &str) -> u16 {
    let line = t
        .lines()
        .rev()
        .find(|l| l.starts_with("-- served by"))
        .expect("a served line");
    let rest = line.trim_start_matches("-- served by 127.0.0.1:");
    rest[..rest.find(',').unwrap()].parse().unwrap()
}

#[test]
fn shell_moves_on_when_its_host_dies_and_keeps_the_database() {
    let sb = start_sandbox(3);
    for i in 0..3 {
        let out = run(&["query", &url_of(&sb, &[i], ""), "CREATE DATABASE shelldb"]);
        assert_eq!(code(&out), Some(0), "{}", text(&out.stderr));
    }
    let url = url_of(&sb, &[0, 1, 2], "connect_timeout=1s&socket_timeout=2s");
    let mut child = bin()
        .args(["shell", &url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn shell");
    let mut stdin = child.stdin.take().expect("stdin");
    let out = Transcript::of(&mut child);

    writeln!(stdin, "USE shelldb;\nSELECT @@port AS port").unwrap();
    let t = out.wait_for("-- served by", 2);
    assert!(
        t.contains("/shelldb]> "),
        "the prompt shows the database:\n{t}"
    );
    let first = last_served_port(&t);
    let dead = (0..3)
        .find(|&i| sb.port(i) == first)
        .expect("a sandbox port");
    sb.kill(dead);

    writeln!(stdin, "SELECT DATABASE() AS db, @@port AS port").unwrap();
    let t = out.wait_for("-- served by", 3);
    let notices: Vec<&str> = t.lines().filter(|l| l.contains(" is gone (")).collect();
    assert_eq!(notices.len(), 1, "one notice:\n{t}");
    assert!(
        notices[0].contains(&format!("-- host 127.0.0.1:{first} is gone (")),
        "{}",
        notices[0]
    );
    assert!(
        t.contains("| shelldb |"),
        "the database moved with the handle:\n{t}"
    );
    let second = last_served_port(&t);
    assert_ne!(second, first);

    // Inside a transaction the shell reports the loss; nothing is replayed.
    writeln!(stdin, "BEGIN\nSELECT @@port AS port").unwrap();
    let t = out.wait_for("-- served by", 5);
    let in_tx = last_served_port(&t);
    sb.kill((0..3).find(|&i| sb.port(i) == in_tx).unwrap());
    writeln!(stdin, "SELECT 1").unwrap();
    let t = out.wait_for("-- transaction lost", 1);
    assert!(
        t.contains(&format!("-- transaction lost on 127.0.0.1:{in_tx}: ")),
        "{t}"
    );
    writeln!(stdin, "quit").unwrap();
    drop(stdin);
    let give_up = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < give_up, "shell did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    // Piped input: the lost transaction (a host failure) sets the exit code.
    assert_eq!(status.code(), Some(1), "{}", out.text());
}

#[test]
fn demo_short_version_prints_phases_and_writes_the_chart() {
    let dir = std::env::temp_dir().join(format!("mysql-lb-demo-{}", std::process::id()));
    let out = run(&[
        "demo",
        "--out",
        dir.to_str().unwrap(),
        "--time-scale",
        "0.2",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(code(&out), Some(0), "{stdout}\n{}", text(&out.stderr));
    for phase in ["healthy", "after kill", "during pause", "recovered"] {
        assert_eq!(
            stdout.matches(phase).count(),
            2,
            "{phase} for both drivers:\n{stdout}"
        );
    }
    let png = std::fs::read(dir.join("demo.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 1000);
    assert!(stdout.contains("demo.png"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}
