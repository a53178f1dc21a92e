//! One `mariadbd` process: its files, how it is started, known to be ready, and stopped.
//!
//! Readiness is read, not polled: with no `--log-error`, `mariadbd` logs to stderr, and it
//! prints "ready for connections" once its TCP port listens. A thread per process copies every
//! stderr line to `mariadbd.log` in the server's dir (so the pipe never fills and the log
//! survives for post-mortems) and reports "ready" or "exited" over a oneshot channel; the
//! caller waits on that with a deadline. The same thread notices the "Address already in
//! use" of a port taken between our probe and the server's bind, so the caller can retry.
//!
//! The `Child` handle is kept unreaped while the server runs, so its pid cannot be reused by
//! another process and signalling it (`SIGKILL`, `SIGSTOP`, `SIGCONT`) is always safe.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::error::{SandboxError, log_tail};
use super::exit::{self, ChildSlot};
use super::spawner;
use super::template::INNODB_SIZING;

/// Lines of log kept for an error message.
const TAIL_LINES: usize = 25;

/// Settings that change the way `mariadbd` runs, leaving tuning aside: these are fixed.
const LIGHT_AND_FAST: &[&str] = &[
    "--bind-address=127.0.0.1",
    "--skip-name-resolve",
    // 2, not 0: commits reach the OS at once, so they survive a SIGKILL of the server
    // (with 0 the log buffer is written only once a second); still no fsync per commit.
    "--innodb-flush-log-at-trx-commit=2",
    "--innodb-doublewrite=0",
    "--innodb-temp-data-file-path=ibtmp1:1M:autoextend",
    "--innodb-buffer-pool-load-at-startup=0",
    "--innodb-buffer-pool-dump-at-shutdown=0",
];

/// What the log thread saw.
enum Event {
    /// "ready for connections".
    Ready,
    /// stderr closed before that: the server exited.
    Exited {
        addr_in_use: bool,
        tail: VecDeque<String>,
    },
}

/// A server that was spawned and has not yet said it is ready.
pub(crate) struct Pending {
    rx: oneshot::Receiver<Event>,
    deadline: Instant,
    port: u16,
    timeout: Duration,
}

/// Why a start failed; `AddrInUse` is worth retrying.
pub(crate) enum StartError {
    /// The TCP port was taken by someone else.
    AddrInUse(SandboxError),
    /// Anything else.
    Other(SandboxError),
}

impl From<StartError> for SandboxError {
    fn from(e: StartError) -> Self {
        match e {
            StartError::AddrInUse(e) | StartError::Other(e) => e,
        }
    }
}

/// How to run the servers of one sandbox.
pub(crate) struct LaunchConfig {
    /// Path of `mariadbd`.
    pub mariadbd: PathBuf,
    /// Extra arguments appended last (so they override ours).
    pub extra_args: Vec<String>,
    /// Bound on the wait for "ready for connections".
    pub ready_timeout: Duration,
}

/// One server of a sandbox: a data dir, a port, and maybe a running process.
pub(crate) struct Server {
    index: usize,
    dir: PathBuf,
    port: AtomicU16,
    child: ChildSlot,
    /// Arguments of this server alone (e.g. `--read-only` for a replica), kept for restarts.
    own_args: Mutex<Vec<String>>,
}

impl Server {
    /// A server living in `dir` (which holds `data/`, its log and socket).
    pub(crate) fn new(index: usize, dir: PathBuf) -> Server {
        let child = ChildSlot::default();
        exit::register_child(&child);
        Server {
            index,
            dir,
            port: AtomicU16::new(0),
            child,
            own_args: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn port(&self) -> u16 {
        self.port.load(Ordering::SeqCst)
    }

    pub(crate) fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub(crate) fn log_path(&self) -> PathBuf {
        self.dir.join("mariadbd.log")
    }

    pub(crate) fn socket_path(&self) -> PathBuf {
        self.dir.join("mariadbd.sock")
    }

    /// Sets the arguments this server alone gets from its next start on; they come before the
    /// sandbox-wide extra arguments, so those still win.
    pub(crate) fn set_own_args(&self, args: Vec<String>) {
        *self.own_args.lock().unwrap_or_else(|e| e.into_inner()) = args;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Child>> {
        self.child.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn startup_error(&self, port: u16, reason: String, tail: String) -> SandboxError {
        SandboxError::Startup {
            index: self.index,
            port,
            reason,
            log: self.log_path(),
            tail,
        }
    }

    /// Starts `mariadbd` on `port` without waiting for it; see [`Server::wait_ready`].
    pub(crate) async fn spawn(
        &self,
        cfg: &LaunchConfig,
        port: u16,
    ) -> Result<Pending, SandboxError> {
        self.kill();
        let tmp = self.dir.join("tmp");
        std::fs::create_dir_all(&tmp)
            .map_err(|e| SandboxError::io(format!("creating {}", tmp.display()), e))?;
        let log_path = self.log_path();
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| SandboxError::io(format!("opening {}", log_path.display()), e))?;
        let _ = writeln!(
            log,
            "==== mysql_lb sandbox: starting mariadbd on port {port} ===="
        );

        let mut cmd = Command::new(&cfg.mariadbd);
        cmd.arg("--no-defaults");
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            // mariadbd refuses to run as root unless told to.
            cmd.arg("--user=root");
        }
        cmd.arg(format!("--datadir={}", self.data_dir().display()))
            .arg(format!("--socket={}", self.socket_path().display()))
            .arg(format!(
                "--pid-file={}",
                self.dir.join("mariadbd.pid").display()
            ))
            .arg(format!("--tmpdir={}", tmp.display()))
            .arg(format!("--port={port}"))
            // What a source lists in SHOW SLAVE HOSTS for this server once it replicates
            // (replica discovery needs both; the host alone would report port 0 on MySQL).
            .arg("--report-host=127.0.0.1")
            .arg(format!("--report-port={port}"))
            .arg(format!("--server-id={}", self.index + 1))
            .args(LIGHT_AND_FAST)
            .args(INNODB_SIZING)
            .args(
                self.own_args
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .iter(),
            )
            .args(&cfg.extra_args)
            // Out of the terminal's process group: Ctrl-C and Ctrl-Z reach the test binary
            // only; the servers follow it through PDEATHSIG.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());

        let mut child = spawner::spawn(cmd)
            .await
            .map_err(|e| SandboxError::io(format!("starting {}", cfg.mariadbd.display()), e))?;
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, rx) = oneshot::channel();
        std::thread::Builder::new()
            .name(format!("mariadbd-{}-log", self.index))
            .spawn(move || copy_log(stderr, log, tx))
            .map_err(|e| SandboxError::io("starting a log thread", e))?;
        *self.lock() = Some(child);
        self.port.store(port, Ordering::SeqCst);
        Ok(Pending {
            rx,
            deadline: Instant::now() + cfg.ready_timeout,
            port,
            timeout: cfg.ready_timeout,
        })
    }

    /// Waits until the spawned server is ready for connections, exits, or times out (then it
    /// is killed).
    pub(crate) async fn wait_ready(&self, pending: Pending) -> Result<(), StartError> {
        let port = pending.port;
        match tokio::time::timeout_at(pending.deadline, pending.rx).await {
            Ok(Ok(Event::Ready)) => Ok(()),
            Ok(Ok(Event::Exited { addr_in_use, tail })) => {
                let status = self.reap();
                let tail = Vec::from(tail).join("\n");
                let err = self.startup_error(
                    port,
                    format!("mariadbd exited during startup ({status})"),
                    tail,
                );
                if addr_in_use {
                    Err(StartError::AddrInUse(err))
                } else {
                    Err(StartError::Other(err))
                }
            }
            Ok(Err(_)) => {
                let status = self.reap();
                Err(StartError::Other(self.startup_error(
                    port,
                    format!("its log thread ended early ({status})"),
                    log_tail(&self.log_path(), TAIL_LINES),
                )))
            }
            Err(_) => {
                self.kill();
                Err(StartError::Other(self.startup_error(
                    port,
                    format!(
                        "no \"ready for connections\" within {:?}; killed it",
                        pending.timeout
                    ),
                    log_tail(&self.log_path(), TAIL_LINES),
                )))
            }
        }
    }

    /// Waits for an exited child and describes how it ended.
    fn reap(&self) -> String {
        match self.lock().take() {
            Some(mut child) => match child.wait() {
                Ok(status) => status.to_string(),
                Err(e) => format!("wait failed: {e}"),
            },
            None => "killed".to_string(),
        }
    }

    /// SIGKILLs the process (paused or not) and its process group, then reaps it; nothing if
    /// none runs.
    ///
    /// The group holds what the server started itself, such as a Galera node's state
    /// transfer script and its `rsync` daemon, which would otherwise outlive it and keep
    /// its port.
    pub(crate) fn kill(&self) {
        if let Some(mut child) = self.lock().take() {
            // SAFETY: the child leads its own group (`process_group(0)`) and is not reaped
            // yet, so the group id cannot name anyone else's group.
            unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends `signal` to the process if there is one.
    pub(crate) fn signal(&self, signal: libc::c_int) {
        if let Some(child) = self.lock().as_ref() {
            // SAFETY: the child is not reaped yet, so its pid still names it.
            unsafe { libc::kill(child.id() as libc::pid_t, signal) };
        }
    }

    /// The process id, if a process runs.
    pub(crate) fn pid(&self) -> Option<u32> {
        if self.is_running() {
            self.lock().as_ref().map(Child::id)
        } else {
            None
        }
    }

    /// Whether the process exists (a paused server counts as running).
    pub(crate) fn is_running(&self) -> bool {
        let mut guard = self.lock();
        match guard.as_mut().map(|c| c.try_wait()) {
            Some(Ok(None)) => true,
            Some(_) => {
                *guard = None;
                false
            }
            None => false,
        }
    }
}

/// Copies the server's stderr to its log and reports readiness or exit.
fn copy_log(stderr: impl std::io::Read, mut log: std::fs::File, tx: oneshot::Sender<Event>) {
    let mut reader = BufReader::new(stderr);
    let mut tx = Some(tx);
    let mut tail = VecDeque::with_capacity(TAIL_LINES);
    let mut addr_in_use = false;
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let _ = log.write_all(&line);
        if tx.is_none() {
            continue;
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_string();
        if text.contains("ready for connections") {
            let _ = tx.take().map(|tx| tx.send(Event::Ready));
            continue;
        }
        if text.contains("Bind on TCP/IP port") && text.contains("Address already in use") {
            addr_in_use = true;
        }
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(text);
    }
    if let Some(tx) = tx {
        let _ = tx.send(Event::Exited { addr_in_use, tail });
    }
}

/// A port that was free a moment ago and that no other server or proxy of this process ever
/// had (see `ports.rs`).
pub(crate) fn free_port() -> Result<u16, SandboxError> {
    super::ports::fresh_port().map_err(|e| SandboxError::io("finding a free port", e))
}

/// Whether `path` fits in a Unix socket address (`sun_path` is 108 bytes with the NUL).
pub(crate) fn fits_sun_path(path: &Path) -> bool {
    path.as_os_str().len() < 108
}
