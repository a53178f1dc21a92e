//! One process-wide thread that forks every child of the sandbox.
//!
//! Servers must not outlive the process that started them, whatever way it ends: a dropped
//! `Sandbox` kills them, but a Ctrl-C, a `kill -9` of the test binary, or a `Sandbox` kept in a
//! `static` (never dropped) would leave `mariadbd`s running. Linux's
//! `prctl(PR_SET_PDEATHSIG, SIGKILL)`, set in the child between fork and exec, covers all of
//! those: the kernel kills the child when its parent goes away.
//!
//! The catch is that "parent" means the *thread* that forked, not the process. `cargo test`
//! runs every test on its own short-lived thread, so a server forked from a test thread would
//! be SIGKILLed as soon as that test returned, even if a `static` sandbox is shared with later
//! tests. So every fork happens here, on one thread that is started on first use, receives
//! `Command`s over a channel and never exits: its death is the process's death.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::OnceLock;
use std::sync::mpsc;

struct Request {
    cmd: Command,
    reply: tokio::sync::oneshot::Sender<io::Result<Child>>,
}

static SPAWNER: OnceLock<mpsc::Sender<Request>> = OnceLock::new();

fn spawner() -> &'static mpsc::Sender<Request> {
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("mysql_lb-sandbox-spawner".into())
            .spawn(move || {
                // The sender lives in a static, so `recv` never fails and this thread never
                // returns; if it did, every child would be killed.
                while let Ok(Request { mut cmd, reply }) = rx.recv() {
                    let _ = reply.send(spawn_here(&mut cmd));
                }
            })
            .expect("cannot start the sandbox spawner thread");
        tx
    })
}

fn spawn_here(cmd: &mut Command) -> io::Result<Child> {
    // SAFETY: getpid is async-signal-safe and called before forking.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the hook runs in the forked child before exec and only calls async-signal-safe
    // functions (prctl, getppid, raise); it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl: then nobody would kill us.
            if libc::getppid() != parent {
                libc::raise(libc::SIGKILL);
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// Starts `cmd` from the spawner thread; the child is SIGKILLed when this process ends.
pub(crate) async fn spawn(cmd: Command) -> io::Result<Child> {
    let (reply, rx) = tokio::sync::oneshot::channel();
    spawner()
        .send(Request { cmd, reply })
        .map_err(|_| io::Error::other("sandbox spawner thread is gone"))?;
    rx.await
        .map_err(|_| io::Error::other("sandbox spawner thread dropped the request"))?
}

/// Like [`spawn`], for code that is not async (must not be called on a runtime thread).
pub(crate) fn spawn_blocking(cmd: Command) -> io::Result<Child> {
    let (reply, rx) = tokio::sync::oneshot::channel();
    spawner()
        .send(Request { cmd, reply })
        .map_err(|_| io::Error::other("sandbox spawner thread is gone"))?;
    rx.blocking_recv()
        .map_err(|_| io::Error::other("sandbox spawner thread dropped the request"))?
}
