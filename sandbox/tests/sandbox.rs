//! The sandbox against real `mariadbd` servers: start, kill, restart, pause, the fault proxy
//! in every mode, and that no server outlives its sandbox or its process.
//!
//! Three servers are started once and shared by the tests that leave them intact; tests that
//! kill or pause a server get their own one-server sandbox so they cannot disturb the others.
//! Every wait is bounded.

use std::future::Future;
use std::io::ErrorKind;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};
use mysql_lb_sandbox::{FaultProxy, PASSWORD, ProxyMode, Sandbox, SandboxOptions, USER};
use tokio::sync::OnceCell;

/// Bound on anything that should succeed.
const BOUND: Duration = Duration::from_secs(30);
/// How long something that should hang must not complete.
const HANG: Duration = Duration::from_millis(500);

static SHARED: OnceCell<Sandbox> = OnceCell::const_new();

/// Three servers shared by the non-destructive tests.
async fn shared() -> &'static Sandbox {
    SHARED
        .get_or_init(|| async {
            let started = Instant::now();
            let sandbox = bounded(Sandbox::start(3)).await.expect("start 3 servers");
            eprintln!(
                "Sandbox::start(3) took {:?} (ports {}, {}, {})",
                started.elapsed(),
                sandbox.port(0),
                sandbox.port(1),
                sandbox.port(2)
            );
            sandbox
        })
        .await
}

/// Fails the test if `fut` does not finish within [`BOUND`].
async fn bounded<F: Future>(fut: F) -> F::Output {
    tokio::time::timeout(BOUND, fut)
        .await
        .expect("operation did not finish within the bound")
}

/// TCP options for `port` as the sandbox user, never switching to the Unix socket.
fn tcp_opts(port: u16) -> OptsBuilder {
    OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port)
        .user(Some(USER))
        .pass(Some(PASSWORD))
        .prefer_socket(false)
}

/// The I/O error kind inside a driver error, if it is one.
fn io_kind(err: &mysql_async::Error) -> Option<ErrorKind> {
    match err {
        mysql_async::Error::Io(mysql_async::IoError::Io(e)) => Some(e.kind()),
        _ => None,
    }
}

/// How long one `SELECT 1` takes on `conn`.
async fn round_trip(conn: &mut Conn) -> Duration {
    let started = Instant::now();
    bounded(conn.query_drop("SELECT 1")).await.unwrap();
    started.elapsed()
}

async fn select_port(conn: &mut Conn) -> u16 {
    let port: Option<u16> = bounded(conn.query_first("SELECT @@port"))
        .await
        .expect("SELECT @@port");
    port.expect("a row")
}

#[tokio::test]
async fn all_three_servers_answer() {
    let sb = shared().await;
    assert_eq!(sb.len(), 3);
    assert!(!sb.is_empty());
    let mut tasks = Vec::new();
    for i in 0..sb.len() {
        tasks.push(tokio::spawn(async move {
            let rows = sb.sql(i, "SELECT @@port, @@server_id").await.unwrap();
            let (port, server_id): (u16, u32) = mysql_async::from_row(rows[0].clone());
            (i, port, server_id)
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        let (i, port, server_id) = bounded(task).await.unwrap();
        assert_eq!(port, sb.port(i));
        assert_eq!(sb.addr(i).port(), port);
        assert!(sb.is_running(i));
        ids.push(server_id);
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "every server has its own server_id");

    let url = sb.url();
    assert_eq!(
        url,
        format!(
            "mysql://lb:lb-secret@127.0.0.1:{},127.0.0.1:{},127.0.0.1:{}/",
            sb.port(0),
            sb.port(1),
            sb.port(2)
        )
    );
    assert!(sb.dir().join("s0").join("mariadbd.log").is_file());

    // The account has every privilege.
    sb.exec(
        1,
        "CREATE DATABASE IF NOT EXISTS priv_check; DROP DATABASE priv_check",
    )
    .await
    .unwrap();
    let grants = sb.sql(2, "SHOW GRANTS").await.unwrap();
    let grant: String = mysql_async::from_row(grants[0].clone());
    assert!(grant.contains("ALL PRIVILEGES") && grant.contains("WITH GRANT OPTION"));
}

#[tokio::test]
async fn kill_refuses_and_restart_keeps_port_and_data() {
    let opts = SandboxOptions::default().arg("--max-connections=17");
    let sb = bounded(Sandbox::start_with(1, opts)).await.unwrap();
    let port = sb.port(0);
    sb.exec(
        0,
        "CREATE DATABASE t; CREATE TABLE t.kept (id INT PRIMARY KEY) ENGINE=InnoDB; \
         INSERT INTO t.kept VALUES (1), (2), (3)",
    )
    .await
    .unwrap();
    let rows = sb.sql(0, "SELECT @@max_connections").await.unwrap();
    assert_eq!(mysql_async::from_row::<u32>(rows[0].clone()), 17);

    sb.kill(0);
    assert!(!sb.is_running(0));
    assert_eq!(sb.pid(0), None);
    sb.kill(0); // idempotent
    let err = bounded(Conn::new(sb.opts(0))).await.unwrap_err();
    assert_eq!(
        io_kind(&err),
        Some(ErrorKind::ConnectionRefused),
        "connect to a killed server: {err:?}"
    );

    bounded(sb.restart(0)).await.unwrap();
    assert!(sb.is_running(0));
    assert_eq!(sb.port(0), port, "restart keeps the port");
    let rows = sb.sql(0, "SELECT COUNT(*) FROM t.kept").await.unwrap();
    assert_eq!(mysql_async::from_row::<u64>(rows[0].clone()), 3);
    let rows = sb.sql(0, "SELECT @@max_connections").await.unwrap();
    assert_eq!(mysql_async::from_row::<u32>(rows[0].clone()), 17);

    // Restarting a running server works too.
    bounded(sb.restart(0)).await.unwrap();
    let rows = sb.sql(0, "SELECT COUNT(*) FROM t.kept").await.unwrap();
    assert_eq!(mysql_async::from_row::<u64>(rows[0].clone()), 3);
}

#[tokio::test]
async fn pause_hangs_and_resume_recovers() {
    let sb = bounded(Sandbox::start(1)).await.unwrap();
    let mut before = bounded(Conn::new(sb.opts(0))).await.unwrap();

    sb.pause(0);
    assert!(sb.is_running(0), "a paused server still runs");
    let connect = tokio::time::timeout(HANG, Conn::new(sb.opts(0))).await;
    assert!(connect.is_err(), "connect to a paused server completed");
    let query = tokio::time::timeout(HANG, before.query_drop("SELECT 1")).await;
    assert!(query.is_err(), "query on a paused server completed");

    sb.resume(0);
    let rows = sb.sql(0, "SELECT 1").await.unwrap();
    assert_eq!(mysql_async::from_row::<u8>(rows[0].clone()), 1);

    // Dropping a sandbox whose server is paused still kills it.
    let pid = sb.pid(0).unwrap();
    sb.pause(0);
    let dir = sb.dir().to_path_buf();
    drop(sb);
    assert!(!process_exists(pid), "paused server {pid} survived drop");
    assert!(!dir.exists(), "sandbox dir survived drop");
}

#[tokio::test]
async fn proxy_pass_carries_the_traffic() {
    let sb = shared().await;
    let proxy = FaultProxy::start(sb.addr(0)).await.unwrap();
    assert_eq!(proxy.mode(), ProxyMode::Pass);
    assert_eq!(proxy.connections(), 0);

    let mut conn = bounded(Conn::new(tcp_opts(proxy.port()))).await.unwrap();
    assert_eq!(select_port(&mut conn).await, sb.port(0));
    assert_eq!(proxy.connections(), 1);
    // A larger result crosses the proxy in many chunks.
    let big: Option<String> = bounded(conn.query_first("SELECT REPEAT('x', 1000000)"))
        .await
        .unwrap();
    assert_eq!(big.unwrap().len(), 1_000_000);
    bounded(conn.disconnect()).await.unwrap();

    let mut again = bounded(Conn::new(tcp_opts(proxy.port()))).await.unwrap();
    assert_eq!(select_port(&mut again).await, sb.port(0));
    assert_eq!(proxy.connections(), 2);

    // Proof that the proxy carries the traffic: blackholing it hangs the connection.
    proxy.set_mode(ProxyMode::Blackhole);
    let hung = tokio::time::timeout(HANG, again.query_drop("SELECT 1")).await;
    assert!(hung.is_err(), "query completed through a blackholed proxy");
}

/// Why every connection through a proxy must say `prefer_socket(false)`.
#[tokio::test]
async fn default_prefer_socket_bypasses_the_proxy() {
    let sb = shared().await;
    let proxy = FaultProxy::start(sb.addr(1)).await.unwrap();
    let opts = tcp_opts(proxy.port()).prefer_socket(true);
    let mut conn = bounded(Conn::new(opts)).await.unwrap();
    proxy.set_mode(ProxyMode::Blackhole);
    // mysql_async switched to the server's Unix socket after the TCP handshake.
    assert_eq!(select_port(&mut conn).await, sb.port(1));
    bounded(conn.disconnect()).await.unwrap();
}

#[tokio::test]
async fn proxy_latency_delays_round_trips() {
    let sb = shared().await;
    let proxy = FaultProxy::start(sb.addr(1)).await.unwrap();
    let mut conn = bounded(Conn::new(tcp_opts(proxy.port()))).await.unwrap();

    let fast = round_trip(&mut conn).await;

    // Applies to the existing connection.
    proxy.set_mode(ProxyMode::Latency(Duration::from_millis(200)));
    let slow = round_trip(&mut conn).await;
    eprintln!("SELECT 1: {fast:?} in Pass, {slow:?} with 200 ms latency");
    assert!(
        slow >= Duration::from_millis(195),
        "round trip took {slow:?}"
    );
    assert!(slow < Duration::from_secs(5), "round trip took {slow:?}");

    // A new connection under latency works, just slowly.
    let mut slow_conn = bounded(Conn::new(tcp_opts(proxy.port()))).await.unwrap();
    assert_eq!(select_port(&mut slow_conn).await, sb.port(1));

    proxy.set_mode(ProxyMode::Pass);
    let again = round_trip(&mut conn).await;
    assert!(
        again < Duration::from_millis(150),
        "round trip took {again:?}"
    );
    assert_eq!(proxy.connections(), 2);
}

#[tokio::test]
async fn proxy_blackhole_hangs_new_and_existing_connections() {
    let sb = shared().await;
    let proxy = FaultProxy::start(sb.addr(2)).await.unwrap();
    let mut existing = bounded(Conn::new(tcp_opts(proxy.port()))).await.unwrap();

    proxy.set_mode(ProxyMode::Blackhole);
    let query = tokio::time::timeout(HANG, existing.query_drop("SELECT 1")).await;
    assert!(query.is_err(), "query through a blackhole completed");
    let connect = tokio::time::timeout(HANG, Conn::new(tcp_opts(proxy.port()))).await;
    assert!(connect.is_err(), "connect through a blackhole completed");
    assert_eq!(proxy.connections(), 2, "the blackhole accepts connections");

    proxy.set_mode(ProxyMode::Pass);
    let mut conn = bounded(Conn::new(tcp_opts(proxy.port()))).await.unwrap();
    assert_eq!(select_port(&mut conn).await, sb.port(2));
}

#[tokio::test]
async fn proxy_reset_breaks_new_and_existing_connections() {
    let sb = shared().await;
    let proxy = FaultProxy::start(sb.addr(0)).await.unwrap();
    let mut existing = bounded(Conn::new(tcp_opts(proxy.port()))).await.unwrap();

    proxy.set_mode(ProxyMode::Reset);
    let err = bounded(existing.query_drop("SELECT 1")).await.unwrap_err();
    assert!(
        io_kind(&err).is_some(),
        "query on a reset connection: {err:?}"
    );
    let err = bounded(Conn::new(tcp_opts(proxy.port())))
        .await
        .unwrap_err();
    assert!(io_kind(&err).is_some(), "connect through Reset: {err:?}");
    assert_eq!(proxy.connections(), 2);

    proxy.set_mode(ProxyMode::Pass);
    let mut conn = bounded(Conn::new(tcp_opts(proxy.port()))).await.unwrap();
    assert_eq!(select_port(&mut conn).await, sb.port(0));
}

#[tokio::test]
async fn proxy_refuse_refuses_new_connections_only() {
    let sb = shared().await;
    let proxy = FaultProxy::start(sb.addr(2)).await.unwrap();
    let mut existing = bounded(Conn::new(tcp_opts(proxy.port()))).await.unwrap();

    proxy.set_mode(ProxyMode::Refuse);
    let err = bounded(Conn::new(tcp_opts(proxy.port())))
        .await
        .unwrap_err();
    assert_eq!(
        io_kind(&err),
        Some(ErrorKind::ConnectionRefused),
        "connect while refusing: {err:?}"
    );
    assert_eq!(
        select_port(&mut existing).await,
        sb.port(2),
        "existing connection"
    );
    assert_eq!(proxy.connections(), 1);

    proxy.set_mode(ProxyMode::Pass);
    let mut conn = bounded(Conn::new(tcp_opts(proxy.port()))).await.unwrap();
    assert_eq!(select_port(&mut conn).await, sb.port(2));
    assert_eq!(proxy.connections(), 2);

    // Refuse and back, twice in a row, without anyone connecting in between.
    proxy.set_mode(ProxyMode::Refuse);
    proxy.set_mode(ProxyMode::Pass);
    proxy.set_mode(ProxyMode::Refuse);
    let err = bounded(Conn::new(tcp_opts(proxy.port())))
        .await
        .unwrap_err();
    assert_eq!(io_kind(&err), Some(ErrorKind::ConnectionRefused));
    proxy.set_mode(ProxyMode::Pass);
    let mut conn = bounded(Conn::new(tcp_opts(proxy.port()))).await.unwrap();
    assert_eq!(select_port(&mut conn).await, sb.port(2));
}

#[tokio::test]
async fn proxy_cut_reply_to_runs_the_statement_and_resets_the_client() {
    let sb = shared().await;
    sb.exec(
        1,
        "CREATE DATABASE IF NOT EXISTS cut; CREATE OR REPLACE TABLE cut.t (k INT) ENGINE=InnoDB",
    )
    .await
    .unwrap();
    let proxy = FaultProxy::start(sb.addr(1)).await.unwrap();
    let mut conn = bounded(Conn::new(tcp_opts(proxy.port()))).await.unwrap();
    bounded(conn.query_drop("BEGIN")).await.unwrap();
    bounded(conn.query_drop("INSERT INTO cut.t VALUES (1)"))
        .await
        .unwrap();

    // Matched case-insensitively, after leading whitespace.
    proxy.set_mode(ProxyMode::CutReplyTo("commit"));
    assert_eq!(proxy.mode(), ProxyMode::CutReplyTo("commit"));
    // Other statements pass, including one that merely mentions the prefix, and one far
    // larger than the proxy's read buffer (its packet arrives in many reads).
    let s: Option<String> = bounded(conn.query_first("SELECT 'COMMIT'")).await.unwrap();
    assert_eq!(s.as_deref(), Some("COMMIT"));
    let big = format!("SELECT LENGTH('{}')", "x".repeat(200_000));
    let n: Option<u64> = bounded(conn.query_first(big)).await.unwrap();
    assert_eq!(n, Some(200_000));

    let err = bounded(conn.query_drop("  \n COMMIT")).await.unwrap_err();
    assert_eq!(
        io_kind(&err),
        Some(ErrorKind::ConnectionReset),
        "COMMIT through CutReplyTo: {err:?}"
    );
    // The server ran it: the row is committed.
    let rows = sb
        .sql(1, "SELECT COUNT(*) FROM cut.t WHERE k = 1")
        .await
        .unwrap();
    assert_eq!(mysql_async::from_row::<i64>(rows[0].clone()), 1);

    // Other connections through the proxy keep working; Pass forwards COMMIT again.
    let mut other = bounded(Conn::new(tcp_opts(proxy.port()))).await.unwrap();
    assert_eq!(select_port(&mut other).await, sb.port(1));
    proxy.set_mode(ProxyMode::Pass);
    bounded(other.query_drop("COMMIT")).await.unwrap();
    assert_eq!(proxy.connections(), 2);
}

#[tokio::test]
async fn dropping_the_proxy_closes_everything() {
    let sb = shared().await;
    let proxy = FaultProxy::start(sb.addr(1)).await.unwrap();
    let port = proxy.port();
    let mut conn = bounded(Conn::new(tcp_opts(port))).await.unwrap();
    drop(proxy);
    let err = bounded(conn.query_drop("SELECT 1")).await.unwrap_err();
    assert!(
        matches!(err, mysql_async::Error::Io(_)),
        "query after drop: {err:?}"
    );
    let err = bounded(Conn::new(tcp_opts(port))).await.unwrap_err();
    assert_eq!(io_kind(&err), Some(ErrorKind::ConnectionRefused));
}

/// Whether `pid` is a live process (a zombie, dead but not yet reaped by init, is not).
fn process_exists(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "pid (comm) S ...": the state follows the last ')'.
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|rest| rest.trim_start().chars().next());
    !matches!(state, Some('Z') | Some('X') | None)
}

/// Waits (bounded) until none of `pids` exists, reaping those that were orphaned to us.
///
/// A zombie counts as dead, but we wait until it is reaped, so no zombie `mariadbd` is left
/// behind; a multi-threaded process shows as a zombie while its other threads still exit,
/// and can be reaped only after that.
fn wait_gone(pids: &[u32]) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for pid in pids {
            // SAFETY: waitpid on a specific pid; it fails harmlessly if it is not our child.
            unsafe { libc::waitpid(*pid as libc::pid_t, std::ptr::null_mut(), libc::WNOHANG) };
        }
        let reaped = |pid: &u32| !std::path::Path::new(&format!("/proc/{pid}")).exists();
        if pids.iter().all(reaped) {
            return true;
        }
        if Instant::now() > deadline {
            return !pids.iter().any(|p| process_exists(*p));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

const HELPER_ENV: &str = "MYSQL_LB_SANDBOX_HELPER";

/// Run by `servers_die_with_their_process` in a child process: starts a sandbox it never
/// drops, reports its pids and dir, then ends the way `$MYSQL_LB_SANDBOX_HELPER` says.
#[test]
#[ignore = "helper: run by servers_die_with_their_process"]
fn helper_process_that_never_drops_its_sandbox() {
    let Ok(spec) = std::env::var(HELPER_ENV) else {
        return;
    };
    let (how, report) = spec.split_once(':').expect("HOW:REPORT_PATH");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sb: &'static Sandbox =
        Box::leak(Box::new(rt.block_on(bounded(Sandbox::start(2))).unwrap()));
    let pids: Vec<String> = (0..2).map(|i| sb.pid(i).unwrap().to_string()).collect();
    // The servers were forked by the spawner thread, not by this (test) thread: let the
    // thread that asked for them end, and check they are still up.
    std::thread::spawn(|| ()).join().unwrap();
    rt.block_on(async { sb.sql(1, "SELECT 1").await.unwrap() });
    let line = format!("{} {}\n", sb.dir().display(), pids.join(" "));
    std::fs::write(report, line).unwrap();
    match how {
        "exit" => std::process::exit(0),
        "int" => unsafe {
            // A shell starts background jobs with SIGINT ignored; Ctrl-C would kill us.
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::raise(libc::SIGINT)
        },
        _ => unsafe { libc::raise(libc::SIGKILL) },
    };
    unreachable!("the process should be gone");
}

#[test]
fn servers_die_with_their_process() {
    // The helper's servers, orphaned when it dies, are reparented to us instead of init, so
    // `wait_gone` can reap them and no zombie `mariadbd` is left for init to collect later.
    // SAFETY: prctl with plain integer arguments.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let exe = std::env::current_exe().unwrap();
    for how in ["kill", "int", "exit"] {
        let report = std::env::temp_dir().join(format!(
            "mysql_lb-helper-report-{}-{how}",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&report);
        let mut child = std::process::Command::new(&exe)
            .args([
                "--exact",
                "helper_process_that_never_drops_its_sandbox",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(HELPER_ENV, format!("{how}:{}", report.display()))
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + BOUND;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("helper ({how}) did not finish");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let expected_signal = match how {
            "kill" => Some(libc::SIGKILL),
            "int" => Some(libc::SIGINT),
            _ => None,
        };
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            expected_signal,
            "helper ({how}) ended with {status}"
        );
        let line = std::fs::read_to_string(&report)
            .unwrap_or_else(|e| panic!("helper ({how}, {status}) wrote no report: {e}"));
        let _ = std::fs::remove_file(&report);
        let mut words = line.split_whitespace();
        let dir = std::path::PathBuf::from(words.next().unwrap());
        let pids: Vec<u32> = words.map(|w| w.parse().unwrap()).collect();
        assert_eq!(pids.len(), 2);
        let started = Instant::now();
        assert!(
            wait_gone(&pids),
            "servers {pids:?} outlived their process ({how}, {status})"
        );
        eprintln!(
            "{how}: servers {pids:?} gone {:?} after their process",
            started.elapsed()
        );
        // The dir stays behind, and the next sandbox (here or in a parallel test) sweeps it.
        let rt = tokio::runtime::Runtime::new().unwrap();
        drop(rt.block_on(bounded(Sandbox::start(0))).unwrap());
        assert!(!dir.exists(), "stale {} was not swept", dir.display());
    }
}

#[tokio::test]
async fn drop_kills_the_servers_and_removes_the_dir() {
    let sb = bounded(Sandbox::start(2)).await.unwrap();
    let pids: Vec<u32> = (0..2).map(|i| sb.pid(i).unwrap()).collect();
    let dir = sb.dir().to_path_buf();
    assert!(dir.is_dir());
    drop(sb);
    for pid in pids {
        assert!(!process_exists(pid), "server {pid} survived drop");
    }
    assert!(!dir.exists());
}

#[tokio::test]
async fn a_server_that_exits_during_startup_is_an_error_with_its_log() {
    let opts = SandboxOptions::default().arg("--no-such-option-for-mariadbd");
    let err = bounded(Sandbox::start_with(1, opts)).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("exited during startup"), "{text}");
    assert!(text.contains("no-such-option-for-mariadbd"), "{text}");
}

#[tokio::test]
async fn restart_waits_for_its_port_to_be_free() {
    let sb = bounded(Sandbox::start(1)).await.unwrap();
    let port = sb.port(0);
    sb.kill(0);
    // Someone else holds the port for a while.
    let squatter = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    // Let go once the restart has met the taken port (not after a fixed time: under load
    // the server may take longer than any guess to get as far as binding).
    let log_path = sb.log_path(0);
    let release = tokio::spawn(async move {
        for _ in 0..2000 {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            if log.matches("Address already in use").count() > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(squatter);
    });
    bounded(sb.restart(0)).await.unwrap();
    bounded(release).await.unwrap();
    assert_eq!(sb.port(0), port);
    let rows = sb.sql(0, "SELECT @@port").await.unwrap();
    assert_eq!(mysql_async::from_row::<u16>(rows[0].clone()), port);
    let log = std::fs::read_to_string(sb.log_path(0)).unwrap();
    assert!(
        log.contains("Address already in use"),
        "the first try hit the squatter"
    );
}
