//! `mysql-lb sandbox`: the JSON line, the stdin commands, and no server left behind on `quit`
//! or SIGTERM.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Bound on every wait for a line or an exit (server start-up included).
const BOUND: Duration = Duration::from_secs(60);

/// A running `mysql-lb sandbox` with its stdin and a channel of its stdout lines.
struct Running {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

impl Running {
    fn start(servers: &str) -> Running {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mysql-lb"))
            .args(["sandbox", "--servers", servers])
            .args(["--haproxy-check-user", "haproxy_check"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("running mysql-lb sandbox");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        // A reader thread, so every read can be bounded by `recv_timeout`.
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            stdin,
            lines,
        }
    }

    fn line(&self) -> String {
        self.lines
            .recv_timeout(BOUND)
            .expect("a line from mysql-lb")
    }

    /// Sends one command and returns its one-line answer.
    fn ask(&mut self, command: &str) -> String {
        writeln!(self.stdin, "{command}").expect("writing a command");
        self.line()
    }

    /// Waits for the exit, bounded; kills the process if it does not come.
    fn exit_code(mut self) -> Option<i32> {
        let give_up = Instant::now() + BOUND;
        while Instant::now() < give_up {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        panic!("mysql-lb sandbox did not exit within {BOUND:?}");
    }
}

/// The server pids of the JSON line.
fn pids(json: &Value) -> Vec<i32> {
    json["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .map(|h| h["pid"].as_i64().expect("pid") as i32)
        .collect()
}

/// Whether `pid` is a live process (a zombie counts as gone: it runs nothing).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X'))
    })
}

/// Waits, bounded, until none of `pids` is alive.
fn all_gone(pids: &[i32]) -> bool {
    let give_up = Instant::now() + BOUND;
    while pids.iter().any(|&p| alive(p)) {
        if Instant::now() >= give_up {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

#[test]
fn commands_answer_and_quit_stops_every_server() {
    let mut sb = Running::start("3");
    let json: Value = serde_json::from_str(&sb.line()).expect("first line is JSON");
    assert_eq!(json["user"], "lb");
    assert_eq!(json["password"], mysql_lb::sandbox::PASSWORD);
    let pids = pids(&json);
    assert_eq!(pids.len(), 3);
    assert!(pids.iter().all(|&p| alive(p)), "{json}");
    let port0 = json["hosts"][0]["port"].as_u64().expect("port");
    assert!(
        json["url"]
            .as_str()
            .expect("url")
            .contains(&format!("127.0.0.1:{port0}")),
        "{json}"
    );

    assert_eq!(sb.ask("sql 0 SELECT 1"), r#"ok [["1"]]"#);
    assert_eq!(
        sb.ask("sql 2 SELECT COUNT(*) FROM mysql.user WHERE user = 'haproxy_check'"),
        r#"ok [["1"]]"#
    );
    assert_eq!(sb.ask("kill 1"), "ok kill 1");
    assert!(all_gone(&pids[1..2]), "server 1 survived `kill 1`");
    // Bad commands are answered and change nothing.
    assert!(sb.ask("kill 3").starts_with("error bad server index `3`"));
    assert!(
        sb.ask("explode 0")
            .starts_with("error unknown command `explode`")
    );
    assert!(sb.ask("sql 0").starts_with("error malformed"));
    assert!(alive(pids[0]) && alive(pids[2]));

    assert_eq!(sb.ask("quit"), "ok quit");
    assert_eq!(sb.exit_code(), Some(0));
    assert!(all_gone(&pids), "servers left running after quit");
}

#[test]
fn sigterm_stops_every_server_paused_ones_too() {
    let mut sb = Running::start("2");
    let json: Value = serde_json::from_str(&sb.line()).expect("first line is JSON");
    let pids = pids(&json);
    assert_eq!(sb.ask("pause 0"), "ok pause 0");
    let pid = sb.child.id() as i32;
    // SAFETY: kill(2) on our own child's pid has no memory effects.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    assert_eq!(sb.exit_code(), Some(0));
    assert!(all_gone(&pids), "servers left running after SIGTERM");
}

#[test]
fn zero_servers_is_bad_input() {
    let out = Command::new(env!("CARGO_BIN_EXE_mysql-lb"))
        .args(["sandbox", "--servers", "0"])
        .output()
        .expect("running mysql-lb");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--servers 0"));
}
