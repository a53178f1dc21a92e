//! Per-process temp dirs, named so that leftovers can be found and removed.
//!
//! A sandbox's servers always die with the process (see `spawner.rs`), but its files stay
//! behind when the process is killed or exits without dropping the `Sandbox`. Each dir's name
//! carries the pid of its owner (`mysql_lb-sandbox-<pid>-<nonce>`), so the next sandbox can
//! delete the dirs whose owner no longer exists. A dir whose pid has been reused by another
//! process is kept until that process is gone too, which errs on the safe side.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Prefix of a running sandbox's dir.
pub(crate) const SANDBOX_PREFIX: &str = "mysql_lb-sandbox-";
/// Prefix of a template being built (renamed into place when complete).
pub(crate) const BUILD_PREFIX: &str = "mysql_lb-tmpl-build-";
/// Prefix of a [`TestCerts::generate_temp`](crate::TestCerts::generate_temp) dir.
pub(crate) const CERTS_PREFIX: &str = "mysql_lb-certs-";

/// Creates a fresh dir `<temp>/<prefix><pid>-<nonce>`.
pub(crate) fn create_owned_dir(prefix: &str) -> std::io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let pid = std::process::id();
    loop {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        // Kept short: the server's Unix socket lives below it and sun_path holds 107 bytes.
        let path = std::env::temp_dir().join(format!("{prefix}{pid}-{n}-{:04x}", nanos & 0xffff));
        match std::fs::create_dir(&path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Whether a process with this pid exists (as far as we can tell).
fn pid_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Removes the sandbox, template-build and certificate dirs of our uid whose owning process is gone.
pub(crate) fn sweep_stale() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name
            .strip_prefix(SANDBOX_PREFIX)
            .or_else(|| name.strip_prefix(BUILD_PREFIX))
            .or_else(|| name.strip_prefix(CERTS_PREFIX))
        else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if pid <= 0 || pid_alive(pid) {
            continue;
        }
        let path = entry.path();
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() && m.uid() == uid => {
                tracing::debug!(dir = %path.display(), pid, "removing stale sandbox dir");
                let _ = std::fs::remove_dir_all(&path);
            }
            _ => {}
        }
    }
}

/// Copies a directory tree (regular files and dirs only, which is all a data dir holds).
pub(crate) fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let dst = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &dst)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &dst)?;
        }
    }
    Ok(())
}
