//! [`Sandbox`]: N real `mariadbd` servers on 127.0.0.1, for tests and the demo.
//!
//! Built for speed and for never leaking a server:
//! - Start-up copies a cached template data dir (see `template.rs`) instead of running
//!   `mariadb-install-db` per server, spawns all servers before waiting for any, and waits by
//!   reading their logs rather than polling, so three servers start in about a second.
//! - Ports are found by binding port 0 and releasing it, and never handed out twice in one
//!   process (see `ports.rs`); a server that then loses the race for its port ("Address
//!   already in use") is retried on a new one.
//! - Servers die with the `Sandbox` (drop, including unwinding from a failed test) and with
//!   the process (PDEATHSIG via the spawner thread, see `spawner.rs`); temp dirs of dead
//!   processes are swept on the next start (see `tempdirs.rs`).
//! - All methods take `&self`, so one `Arc<Sandbox>` (or a `static`) can be shared by tasks
//!   and tests; per-server state sits behind its own mutex.
//! - A sandbox started with TLS ([`SandboxOptions::tls`]) makes its own connections
//!   ([`Sandbox::sql`], [`Sandbox::exec`], [`Sandbox::opts`]) over TLS too, trusting only the
//!   given CA, so they keep working under [`SandboxOptions::require_secure_transport`].

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use mysql_async::prelude::Queryable;

use super::error::SandboxError;
use super::server::{LaunchConfig, Server, StartError, fits_sun_path, free_port};
use super::tempdirs::{SANDBOX_PREFIX, copy_tree, create_owned_dir, sweep_stale};
use super::template::{self, Binaries};
use super::tls::TestCerts;
use super::{PASSWORD, USER};

/// How many fresh ports a server gets when its port turns out to be taken.
const PORT_ATTEMPTS: usize = 5;
/// How long [`Sandbox::restart`] keeps trying to get its old port back.
const RESTART_PORT_WAIT: Duration = Duration::from_secs(5);

/// Options for [`Sandbox::start_with`].
///
/// ```
/// # use std::time::Duration;
/// # use mysql_lb_sandbox::SandboxOptions;
/// let opts = SandboxOptions::default()
///     .arg("--wait-timeout=1")
///     .arg("--max-connections=5")
///     .ready_timeout(Duration::from_secs(60));
/// assert_eq!(opts.server_args.len(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// Extra `mariadbd` arguments for every server, e.g. `--wait-timeout=1`. They come after
    /// the sandbox's own, so they win over them. `mariadbd` clamps out-of-range values
    /// silently: `--max-connections=5` gives 10, its minimum.
    pub server_args: Vec<String>,
    /// Bound on the wait for a server to be ready for connections (default 30 s).
    pub ready_timeout: Duration,
    /// Bound on each [`Sandbox::sql`] call, connect included (default 10 s).
    pub sql_timeout: Duration,
    /// Set by [`SandboxOptions::tls`] and [`SandboxOptions::tls_with`]: the sandbox's own
    /// connections then use TLS.
    admin_tls: Option<AdminTls>,
}

/// How the sandbox's own connections use TLS.
#[derive(Debug, Clone)]
struct AdminTls {
    /// The only root certificate trusted.
    ca: PathBuf,
    /// The name the server's certificate is checked against instead of 127.0.0.1 (see
    /// [`SandboxOptions::tls_with`]).
    name: Option<String>,
}

impl AdminTls {
    fn ssl_opts(&self) -> mysql_async::SslOpts {
        mysql_async::SslOpts::default()
            .with_root_certs(vec![self.ca.clone().into()])
            .with_disable_built_in_roots(true)
            .with_danger_accept_invalid_certs(false)
            // Not `with_danger_skip_domain_validation`: with rustls 0.23 mysql_async 0.37.1
            // ignores it (it looks for "NotValidForName" in the error's text, which rustls
            // no longer prints; blackbeam/mysql_async#404), so name the expected host instead.
            .with_danger_tls_hostname_override(self.name.clone())
    }
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            server_args: Vec::new(),
            ready_timeout: Duration::from_secs(30),
            sql_timeout: Duration::from_secs(10),
            admin_tls: None,
        }
    }
}

impl SandboxOptions {
    /// Adds one `mariadbd` argument for every server.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.server_args.push(arg.into());
        self
    }

    /// Sets [`SandboxOptions::ready_timeout`].
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// Sets [`SandboxOptions::sql_timeout`].
    pub fn sql_timeout(mut self, timeout: Duration) -> Self {
        self.sql_timeout = timeout;
        self
    }

    /// Turns TLS on in every server with `certs`' server certificate and key, and its CA as
    /// `--ssl-ca` (the CA that client certificates must be signed by, for `REQUIRE X509`
    /// accounts).
    ///
    /// The sandbox's own connections ([`Sandbox::sql`], [`Sandbox::exec`] and the options
    /// from [`Sandbox::opts`]) then use TLS too, trusting only [`TestCerts::ca`] and
    /// verifying that the certificate names 127.0.0.1. Plain connections are still
    /// accepted unless [`SandboxOptions::require_secure_transport`] is set as well.
    ///
    /// Keep `certs` alive as long as the sandbox: servers read the files at every
    /// (re)start.
    pub fn tls(self, certs: &TestCerts) -> Self {
        self.tls_files(&certs.server_cert, &certs.server_key, &certs.ca, None)
    }

    /// Like [`SandboxOptions::tls`] with any server certificate `cert`, its key `key` (PEM)
    /// and the CA `ca` that signed it, e.g. [`TestCerts::wrong_name_cert`] with
    /// [`WRONG_NAME`](super::WRONG_NAME).
    ///
    /// The sandbox's own connections trust only `ca` and check that `cert` is valid for
    /// `name` rather than for 127.0.0.1, which it need not be: whether a client accepts it
    /// for 127.0.0.1 is left to the test. Replicas (see [`Sandbox::start_replication_with`])
    /// then check the chain only (`MASTER_SSL_VERIFY_SERVER_CERT=0`).
    pub fn tls_with(
        self,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
        ca: impl AsRef<Path>,
        name: &str,
    ) -> Self {
        self.tls_files(
            cert.as_ref(),
            key.as_ref(),
            ca.as_ref(),
            Some(name.to_string()),
        )
    }

    /// The server arguments, and TLS for the sandbox's own connections checking the
    /// certificate against `name` (127.0.0.1 when `None`).
    fn tls_files(mut self, cert: &Path, key: &Path, ca: &Path, name: Option<String>) -> Self {
        self.server_args.push(format!("--ssl-ca={}", ca.display()));
        self.server_args
            .push(format!("--ssl-cert={}", cert.display()));
        self.server_args
            .push(format!("--ssl-key={}", key.display()));
        self.admin_tls = Some(AdminTls {
            ca: ca.to_path_buf(),
            name,
        });
        self
    }

    /// Makes every server refuse connections over TCP without TLS
    /// (`--require-secure-transport=ON`). MariaDB 10.11 refuses them with error 1045
    /// "Access denied" (SQLSTATE 28000), like a wrong password, where MySQL gives 3159
    /// "Connections using insecure transport are prohibited". Unix socket connections
    /// still count as secure. Use it together
    /// with [`SandboxOptions::tls`], or the sandbox itself cannot connect.
    pub fn require_secure_transport(self) -> Self {
        self.arg("--require-secure-transport=ON")
    }
}

/// N real `mariadbd` servers listening on 127.0.0.1, each with the account
/// [`USER`]/[`PASSWORD`].
///
/// Dropping it SIGKILLs every server (paused ones too) and removes its temp dir. Server
/// indexes run from 0 to `len() - 1`; methods taking an index panic on one out of range.
pub struct Sandbox {
    dir: PathBuf,
    pub(super) servers: Vec<Server>,
    launch: LaunchConfig,
    pub(super) sql_timeout: Duration,
    /// TLS for the sandbox's own connections, when started with it.
    admin_tls: Option<AdminTls>,
    /// The server last made the replication source (see `replication.rs`); 0 otherwise.
    pub(super) source: AtomicUsize,
    /// The template data dir the servers' data dirs were copied from (never written to).
    pub(super) template: PathBuf,
    /// Set when the servers are Galera nodes (see `galera.rs`).
    pub(super) galera: Option<super::galera::Galera>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("dir", &self.dir)
            .field(
                "ports",
                &self.servers.iter().map(Server::port).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Sandbox {
    /// Starts `n` servers with default options and waits until all accept connections.
    pub async fn start(n: usize) -> Result<Sandbox, SandboxError> {
        Self::start_with(n, SandboxOptions::default()).await
    }

    /// Starts `n` servers with `opts` and waits until all accept connections.
    pub async fn start_with(n: usize, opts: SandboxOptions) -> Result<Sandbox, SandboxError> {
        let sandbox = Self::prepare(n, opts).await?;
        // Spawn every server first, then wait: they boot in parallel.
        let mut pending = Vec::with_capacity(n);
        for server in &sandbox.servers {
            pending.push(server.spawn(&sandbox.launch, free_port()?).await?);
        }
        for (server, first) in sandbox.servers.iter().zip(pending) {
            let mut result = server.wait_ready(first).await;
            let mut attempts = 1;
            while let Err(StartError::AddrInUse(e)) = result {
                if attempts == PORT_ATTEMPTS {
                    return Err(e);
                }
                attempts += 1;
                let pending = server.spawn(&sandbox.launch, free_port()?).await?;
                result = server.wait_ready(pending).await;
            }
            result?;
        }
        Ok(sandbox)
    }

    /// A sandbox of `n` servers with their data dirs copied from the template, none started.
    pub(super) async fn prepare(n: usize, opts: SandboxOptions) -> Result<Sandbox, SandboxError> {
        // Finding binaries, sweeping, building the template and copying data dirs all block.
        let (bins, dir, template) = tokio::task::spawn_blocking(move || {
            let bins = Binaries::find()?;
            sweep_stale();
            let template = template::ensure(&bins)?;
            let dir = create_owned_dir(SANDBOX_PREFIX)
                .map_err(|e| SandboxError::io("creating the sandbox dir", e))?;
            Ok::<_, SandboxError>((bins, dir, template))
        })
        .await
        .map_err(|e| SandboxError::io("sandbox setup task", std::io::Error::other(e)))??;

        // From here on, dropping `sandbox` cleans up whatever was started.
        super::exit::register_dir(&dir);
        let sandbox = Sandbox {
            servers: (0..n)
                .map(|i| Server::new(i, dir.join(format!("s{i}"))))
                .collect(),
            dir,
            launch: LaunchConfig {
                mariadbd: bins.mariadbd,
                extra_args: opts.server_args,
                ready_timeout: opts.ready_timeout,
            },
            sql_timeout: opts.sql_timeout,
            admin_tls: opts.admin_tls,
            source: AtomicUsize::new(0),
            template: template.clone(),
            galera: None,
        };
        let targets: Vec<PathBuf> = sandbox.servers.iter().map(Server::data_dir).collect();
        if let Some(s) = sandbox.servers.last()
            && !fits_sun_path(&s.socket_path())
        {
            return Err(SandboxError::io(
                format!(
                    "the socket path {} is too long for a Unix socket; set TMPDIR to a shorter dir",
                    s.socket_path().display()
                ),
                std::io::Error::from(std::io::ErrorKind::InvalidInput),
            ));
        }
        tokio::task::spawn_blocking(move || {
            for target in targets {
                copy_tree(&template, &target).map_err(|e| {
                    SandboxError::io(format!("copying the template to {}", target.display()), e)
                })?;
            }
            Ok::<_, SandboxError>(())
        })
        .await
        .map_err(|e| SandboxError::io("sandbox copy task", std::io::Error::other(e)))??;
        Ok(sandbox)
    }

    /// Number of servers.
    pub fn len(&self) -> usize {
        self.servers.len()
    }

    /// Whether the sandbox has no servers.
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// The 127.0.0.1 TCP port of server `i` (it keeps it across restarts).
    pub fn port(&self, i: usize) -> u16 {
        self.servers[i].port()
    }

    /// The TCP address of server `i`.
    pub fn addr(&self, i: usize) -> SocketAddr {
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, self.port(i)))
    }

    /// A URL naming all servers: `mysql://lb:lb-secret@127.0.0.1:P1,127.0.0.1:P2/`.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = (0..self.len())
            .map(|i| format!("127.0.0.1:{}", self.port(i)))
            .collect();
        format!("mysql://{USER}:{PASSWORD}@{}/", hosts.join(","))
    }

    /// SIGKILLs server `i` and reaps it; nothing happens if it is not running.
    pub fn kill(&self, i: usize) {
        self.servers[i].kill();
    }

    /// SIGSTOPs server `i`: like a hung host, its port still completes TCP handshakes (the
    /// kernel does that) but nothing answers.
    ///
    /// Returns once every thread of the server is stopped: the kernel stops each thread only
    /// when it next runs, and a thread that was already waking up can still answer a
    /// statement sent right after `kill(2)` returned.
    pub fn pause(&self, i: usize) {
        self.servers[i].signal(libc::SIGSTOP);
        if let Some(pid) = self.servers[i].pid() {
            wait_all_threads_stopped(pid);
        }
    }

    /// SIGCONTs server `i` after [`Sandbox::pause`].
    pub fn resume(&self, i: usize) {
        self.servers[i].signal(libc::SIGCONT);
    }

    /// Kills server `i` if it runs, then starts it again on the same port and data dir and
    /// waits until it is ready. Data committed before survives (InnoDB recovers it).
    ///
    /// A Galera node (see [`Sandbox::start_galera`]) rejoins the nodes that run, or
    /// bootstraps a new cluster when none does, and is waited for until it is Synced.
    pub async fn restart(&self, i: usize) -> Result<(), SandboxError> {
        if self.galera.is_some() {
            return self.restart_galera(i).await;
        }
        self.servers[i].kill();
        self.start_on_port(i, self.port(i)).await
    }

    /// Starts server `i` (not running) on `port` and waits until it is ready; while the port
    /// is taken by someone else, tries again for a while (the port is the server's to keep).
    pub(super) async fn start_on_port(&self, i: usize, port: u16) -> Result<(), SandboxError> {
        let server = &self.servers[i];
        let give_up = tokio::time::Instant::now() + RESTART_PORT_WAIT;
        loop {
            let pending = server.spawn(&self.launch, port).await?;
            match server.wait_ready(pending).await {
                Ok(()) => return Ok(()),
                // The port is ours to keep, so wait for whoever holds it to let go.
                Err(StartError::AddrInUse(e)) => {
                    if tokio::time::Instant::now() >= give_up {
                        return Err(e);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(StartError::Other(e)) => return Err(e),
            }
        }
    }

    /// Whether server `i`'s process exists (a paused server counts as running).
    pub fn is_running(&self, i: usize) -> bool {
        self.servers[i].is_running()
    }

    /// The process id of server `i`, if it runs.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.servers[i].pid()
    }

    /// Connection options for server `i` over TCP as [`USER`], with `prefer_socket(false)`
    /// so `mysql_async` does not switch to the Unix socket behind a proxy's back.
    ///
    /// When the sandbox was started with [`SandboxOptions::tls`] (or `tls_with`), they
    /// include TLS options trusting only that CA (no built-in roots, no invalid
    /// certificates); a caller that wants a plain connection sets `ssl_opts(None)`.
    pub fn opts(&self, i: usize) -> mysql_async::OptsBuilder {
        mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(self.port(i))
            .user(Some(USER))
            .pass(Some(PASSWORD))
            .prefer_socket(false)
            .ssl_opts(self.admin_tls.as_ref().map(AdminTls::ssl_opts))
    }

    /// Runs `sql` on server `i` over a new TCP connection and returns the rows of its first
    /// result set. Connect, query and disconnect are bounded by the sandbox's SQL timeout.
    pub async fn sql(&self, i: usize, sql: &str) -> Result<Vec<mysql_async::Row>, SandboxError> {
        self.sql_within(i, sql, self.sql_timeout).await
    }

    /// [`Sandbox::sql`] bounded by `bound` instead of the sandbox's SQL timeout.
    pub(super) async fn sql_within(
        &self,
        i: usize,
        sql: &str,
        bound: Duration,
    ) -> Result<Vec<mysql_async::Row>, SandboxError> {
        let opts = self.opts(i);
        let run = async {
            let mut conn = mysql_async::Conn::new(opts).await?;
            let rows = conn.query(sql).await?;
            conn.disconnect().await?;
            Ok::<_, mysql_async::Error>(rows)
        };
        match tokio::time::timeout(bound, run).await {
            Ok(Ok(rows)) => Ok(rows),
            Ok(Err(source)) => Err(SandboxError::Sql { index: i, source }),
            Err(_) => Err(SandboxError::SqlTimeout {
                index: i,
                after: bound,
            }),
        }
    }

    /// Runs `sql` (one or more statements) on server `i` and discards any rows.
    pub async fn exec(&self, i: usize, sql: &str) -> Result<(), SandboxError> {
        let opts = self.opts(i);
        let run = async {
            let mut conn = mysql_async::Conn::new(opts).await?;
            conn.query_drop(sql).await?;
            conn.disconnect().await
        };
        match tokio::time::timeout(self.sql_timeout, run).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(SandboxError::Sql { index: i, source }),
            Err(_) => Err(SandboxError::SqlTimeout {
                index: i,
                after: self.sql_timeout,
            }),
        }
    }

    /// For `CHANGE MASTER TO` on a sandbox started with TLS: the replica connects to its
    /// source over TLS too, trusting the same CA (so replication also works under
    /// `--require-secure-transport`). Empty without TLS.
    pub(super) fn master_ssl_clause(&self) -> String {
        match &self.admin_tls {
            None => String::new(),
            Some(tls) => {
                let ca = tls.ca.display().to_string();
                let ca = ca.replace('\\', "\\\\").replace('\'', "\\'");
                format!(
                    ", MASTER_SSL=1, MASTER_SSL_CA='{ca}', MASTER_SSL_VERIFY_SERVER_CERT={}",
                    u8::from(tls.name.is_none())
                )
            }
        }
    }

    /// The sandbox's temp dir: `s<i>/` holds server `i`'s `data/`, `mariadbd.log` and socket.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Server `i`'s log file (everything it wrote to stderr, across restarts).
    pub fn log_path(&self, i: usize) -> PathBuf {
        self.servers[i].log_path()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for server in &self.servers {
            server.kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        super::exit::unregister_dir(&self.dir);
    }
}

/// Polls `/proc/PID/task/*/stat` until every thread is in state `T` (stopped), for at most a
/// second.
fn wait_all_threads_stopped(pid: u32) {
    let give_up = std::time::Instant::now() + Duration::from_secs(1);
    let all_stopped = || -> bool {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return true; // gone: nothing left to answer
        };
        tasks.flatten().all(|task| {
            std::fs::read_to_string(task.path().join("stat")).is_ok_and(|stat| {
                // The state follows the parenthesised command name, which may hold spaces.
                stat.rsplit_once(") ")
                    .is_some_and(|(_, rest)| rest.starts_with('T') || rest.starts_with('t'))
            })
        })
    };
    while !all_stopped() && std::time::Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(1));
    }
}
