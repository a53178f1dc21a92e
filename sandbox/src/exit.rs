//! Cleanup at normal process exit, for sandboxes that are never dropped.
//!
//! A `Sandbox` in a `static` is never dropped. Its servers still die when the process ends
//! (PDEATHSIG, see `spawner.rs`), but only after it is gone: they linger for a moment as
//! orphans and zombies (so `pgrep -x mariadbd` right after `cargo test` can still see them),
//! and their temp dir stays until the next sandbox sweeps it. On a normal exit (returning
//! from `main`, `std::process::exit`, which is how the test harness ends) an `atexit` hook
//! does better: it SIGKILLs and reaps every server that is still registered and removes the
//! dirs of undropped sandboxes. It only `try_lock`s, so a thread that holds a lock when the
//! process exits cannot make exit hang; anything skipped is still covered by PDEATHSIG and
//! the sweep.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::{Arc, Mutex, Once, Weak};

/// The process slot of one server, shared with the registry.
pub(crate) type ChildSlot = Arc<Mutex<Option<Child>>>;

static CHILDREN: Mutex<Vec<Weak<Mutex<Option<Child>>>>> = Mutex::new(Vec::new());
static DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        // SAFETY: registers a plain `extern "C" fn()`; failure only loses the cleanup.
        unsafe { libc::atexit(at_exit) };
    });
}

/// Makes a server's process slot known to the exit hook.
pub(crate) fn register_child(slot: &ChildSlot) {
    install_hook();
    let mut children = CHILDREN.lock().unwrap_or_else(|e| e.into_inner());
    children.retain(|w| w.strong_count() > 0);
    children.push(Arc::downgrade(slot));
}

/// Makes a sandbox dir known to the exit hook.
pub(crate) fn register_dir(dir: &Path) {
    install_hook();
    DIRS.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(dir.to_path_buf());
}

/// Forgets a sandbox dir (its sandbox was dropped and removed it).
pub(crate) fn unregister_dir(dir: &Path) {
    DIRS.lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|d| d != dir);
}

extern "C" fn at_exit() {
    // Never unwind out of an `extern "C"` fn.
    let _ = std::panic::catch_unwind(|| {
        if let Ok(children) = CHILDREN.try_lock() {
            for slot in children.iter().filter_map(Weak::upgrade) {
                if let Ok(mut child) = slot.try_lock()
                    && let Some(mut child) = child.take()
                {
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }
        if let Ok(dirs) = DIRS.try_lock() {
            for dir in dirs.iter() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    });
}
