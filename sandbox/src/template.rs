//! The template data directory, made once and copied for every server.
//!
//! `mariadb-install-db` takes about two seconds (it bootstraps a server to create the system
//! tables); copying its result takes milliseconds. So it runs once per uid and `mariadbd`
//! version, into `<temp>/mysql_lb-template-u<uid>-<version>-v<format>`, and every server gets
//! a copy. The template is built in a private dir named after our pid and renamed into place
//! when complete: `rename(2)` is atomic, so test binaries running in parallel never see half
//! a template; if two build at once, the loser throws its copy away. A build dir left by a
//! killed process is swept like any other stale sandbox dir.
//!
//! The accounts (`lb`, `app`, `repl`; see `mod.rs` and `replication.rs`) are created by the
//! `--extra-file` SQL that `mariadb-install-db` runs in the same bootstrap, so every server of
//! every sandbox has them at no cost, and none of them is in a binary log (a replica would
//! otherwise replay `CREATE USER` and fail on the account it already has). That bootstrap runs with `--skip-grant-tables`, where `CREATE USER`
//! is refused ("running with the --skip-grant-tables option"); a `FLUSH PRIVILEGES` first
//! loads the freshly made grant tables and makes account statements work.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use super::error::{SandboxError, log_tail};
use super::replication::{APP_GRANTS, APP_PASSWORD, APP_USER, REPL_PASSWORD, REPL_USER};
use super::tempdirs::{BUILD_PREFIX, create_owned_dir};
use super::{PASSWORD, USER, spawner};

/// Bump when the template's contents change (new SQL, other install options,
/// [`INNODB_SIZING`]): it is part of the cache key.
const FORMAT: u32 = 2;
/// Marks a complete template (written before the rename, so its presence is enough).
const MARKER: &str = "mysql_lb-template.ok";
/// Bound on `mariadb-install-db`.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(180);

/// InnoDB sizing shared by the template build and the servers, so the redo log made by the
/// install is the one the servers expect.
pub(crate) const INNODB_SIZING: &[&str] = &[
    "--innodb-buffer-pool-size=16M",
    "--innodb-log-file-size=8M",
    "--innodb-log-buffer-size=1M",
    "--innodb-use-native-aio=0",
];

/// Directories searched besides `PATH` (Debian puts `mariadbd` in /usr/sbin, often not on
/// a normal user's `PATH`).
const EXTRA_DIRS: &[&str] = &[
    "/usr/sbin",
    "/usr/local/sbin",
    "/usr/bin",
    "/usr/local/bin",
    "/usr/local/mysql/bin",
];

/// The MariaDB programs the sandbox runs.
#[derive(Debug, Clone)]
pub(crate) struct Binaries {
    /// The server.
    pub mariadbd: PathBuf,
    /// The data-dir initialiser.
    pub install_db: PathBuf,
    /// `mariadbd --version`'s version, e.g. `10.11.19-MariaDB-0+deb12u1`.
    pub version: String,
}

fn find_program(names: &[&str]) -> Result<PathBuf, SandboxError> {
    let path_dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    let dirs = path_dirs
        .into_iter()
        .chain(EXTRA_DIRS.iter().map(PathBuf::from));
    for dir in dirs {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(SandboxError::MissingServer {
        program: names[0].to_string(),
        searched: EXTRA_DIRS.join(", "),
    })
}

impl Binaries {
    /// Finds `mariadbd` and `mariadb-install-db` and reads the server's version.
    pub(crate) fn find() -> Result<Binaries, SandboxError> {
        let mariadbd = find_program(&["mariadbd"])?;
        let install_db = find_program(&["mariadb-install-db", "mysql_install_db"])?;
        let out = Command::new(&mariadbd)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                SandboxError::io(format!("running {} --version", mariadbd.display()), e)
            })?;
        let text = String::from_utf8_lossy(&out.stdout);
        // "/usr/sbin/mariadbd  Ver 10.11.19-MariaDB-0+deb12u1 for debian-linux-gnu on x86_64"
        let version = text
            .split_whitespace()
            .skip_while(|w| *w != "Ver")
            .nth(1)
            .unwrap_or("unknown")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._+-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        Ok(Binaries {
            mariadbd,
            install_db,
            version,
        })
    }
}

/// Returns the template data dir, building it first if no complete one exists.
///
/// Blocking (it may run `mariadb-install-db`): call it from `spawn_blocking`.
pub(crate) fn ensure(bins: &Binaries) -> Result<PathBuf, SandboxError> {
    // Sandboxes started concurrently in one process build the template once.
    static BUILDING: Mutex<()> = Mutex::new(());
    let _guard = BUILDING.lock().unwrap_or_else(|e| e.into_inner());

    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    let final_dir = std::env::temp_dir().join(format!(
        "mysql_lb-template-u{uid}-{}-v{FORMAT}",
        bins.version
    ));
    if final_dir.join(MARKER).is_file() {
        return Ok(final_dir);
    }
    if final_dir.exists() {
        // Not made by us (we rename complete dirs only): start over.
        let _ = std::fs::remove_dir_all(&final_dir);
    }

    let build = create_owned_dir(BUILD_PREFIX)
        .map_err(|e| SandboxError::io("creating the template build dir", e))?;
    let data = build.join("data");
    install(bins, &build, &data)?;
    std::fs::write(data.join(MARKER), b"")
        .map_err(|e| SandboxError::io("marking the template complete", e))?;
    let renamed = std::fs::rename(&data, &final_dir);
    let _ = std::fs::remove_dir_all(&build);
    match renamed {
        Ok(()) => Ok(final_dir),
        // Another process finished first: use its template.
        Err(_) if final_dir.join(MARKER).is_file() => Ok(final_dir),
        Err(e) => Err(SandboxError::io(
            format!("moving the template to {}", final_dir.display()),
            e,
        )),
    }
}

/// Runs `mariadb-install-db` into `data`, creating the sandbox accounts.
fn install(bins: &Binaries, build: &Path, data: &Path) -> Result<(), SandboxError> {
    let sql_path = build.join("init.sql");
    let sql = format!(
        "FLUSH PRIVILEGES;\n\
         CREATE USER '{USER}'@'%' IDENTIFIED BY '{PASSWORD}';\n\
         GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'%' WITH GRANT OPTION;\n\
         CREATE USER '{APP_USER}'@'%' IDENTIFIED BY '{APP_PASSWORD}';\n\
         GRANT {APP_GRANTS} ON *.* TO '{APP_USER}'@'%';\n\
         CREATE USER '{REPL_USER}'@'%' IDENTIFIED BY '{REPL_PASSWORD}';\n\
         GRANT REPLICATION SLAVE ON *.* TO '{REPL_USER}'@'%';\n"
    );
    std::fs::write(&sql_path, sql).map_err(|e| SandboxError::io("writing init.sql", e))?;
    let log_path = build.join("install.log");
    let log = std::fs::File::create(&log_path)
        .map_err(|e| SandboxError::io("creating install.log", e))?;
    let log2 = log
        .try_clone()
        .map_err(|e| SandboxError::io("cloning install.log", e))?;

    let mut cmd = Command::new(&bins.install_db);
    cmd.arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .arg("--auth-root-authentication-method=socket")
        .arg("--skip-test-db")
        .arg("--skip-name-resolve")
        .arg(format!("--extra-file={}", sql_path.display()));
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        cmd.arg("--user=root");
    }
    // Its own process group, so a timeout can kill the script and the bootstrap server it runs.
    cmd.args(INNODB_SIZING)
        .process_group(0)
        .current_dir(build)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);

    let context = format!("running {}", bins.install_db.display());
    let mut child = spawner::spawn_blocking(cmd).map_err(|e| SandboxError::io(&context, e))?;
    let pid = child.id() as libc::pid_t;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let status = match rx.recv_timeout(INSTALL_TIMEOUT) {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => return Err(SandboxError::io(context, e)),
        Err(_) => {
            // SAFETY: kill(2) of the process group led by our own, not yet reaped, child.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            return Err(SandboxError::Template {
                status: format!("did not finish within {INSTALL_TIMEOUT:?}"),
                tail: log_tail(&log_path, 30),
                log: log_path,
            });
        }
    };
    if !status.success() || !data.join("mysql").is_dir() {
        return Err(SandboxError::Template {
            status: status.to_string(),
            tail: log_tail(&log_path, 30),
            log: log_path,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_says_how_to_install_it() {
        let err = find_program(&["surely-not-a-mariadb-program"]).unwrap_err();
        assert!(matches!(err, SandboxError::MissingServer { .. }));
        let text = err.to_string();
        assert!(text.contains("surely-not-a-mariadb-program"), "{text}");
        assert!(
            text.contains("apt-get update && apt-get install -y mariadb-server"),
            "{text}"
        );
    }
}
