//! The sandbox as a Galera cluster: N `mariadbd` nodes replicating synchronously
//! (`wsrep`), with isolation, desync, restarts and real state transfers.
//!
//! Why: a load balancer for Galera has to cope with what only a real cluster does — a node
//! that drops out of the Primary component and answers every table access with error 1047,
//! a desynced donor, a node that comes back by IST or SST, certification conflicts. Mocking
//! that would test our assumptions, not Galera.
//!
//! How:
//! - Every node gets four fresh ports (mysql, gcomm, IST, SST; see `ports.rs`), all bound
//!   to 127.0.0.1, and keeps them across restarts; its Galera arguments are arguments of
//!   that node alone (`Server::set_own_args`), so a restart starts the same node.
//! - Node 0 bootstraps (`--wsrep-new-cluster`, for that one start only: a restarted node 0
//!   must join, not found a second cluster); the others join one after the other. Joiners
//!   started together make all but one wait for a donor.
//! - The seeded start ([`GaleraStart::Seeded`], the default) avoids state transfers: every
//!   node is a copy of the same template, so each gets a `grastate.dat` with the same
//!   cluster uuid before it starts. In Galera 4 a configuration change takes a seqno too:
//!   node 0's bootstrap view is seqno 1, node 1's join 2, and so on, so node `i` is seeded
//!   with `seqno: i`, the group's position when it joins. It then finds the group where it
//!   is ("state transfer needed: no") and is Synced at once. A joiner seeded behind that
//!   would ask for an IST, which MariaDB runs through the SST script and then refuses
//!   ("Application received wrong state": the template's InnoDB holds no wsrep position);
//!   one ahead aborts ("Reversing history"). Should a seeded joiner fail anyway, it gets a
//!   fresh copy and joins by SST. Measured on a 2-core box: three nodes in about 4 s seeded,
//!   12 s by SST ([`GaleraStart::StateTransfer`]).
//! - State transfers use rsync. As root the joiner's `rsync --daemon` (started by
//!   `wsrep_sst_rsync`, whose config has no `uid`) runs as `nobody` and must be able to
//!   write the data dir, so when the euid is 0 a node's data dir is handed to `nobody` and
//!   the dirs above it made 0755 before every start. IST goes through that script as well.
//! - Failure detection is tuned for a loaded 2-core box (see [`PROVIDER_TIMING`]): faster
//!   suspect timeouts made the membership flap.
//! - Readiness: "ready for connections" is not enough (a joiner prints it even on its way
//!   to aborting), so after it the node's `wsrep_%` status is polled until it is Synced in a
//!   Primary component; a node whose process died is reported at once with its log tail.

use std::collections::HashMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

use super::cluster::{Sandbox, SandboxOptions};
use super::error::{SandboxError, log_tail};
use super::server::free_port;
use super::tempdirs::copy_tree;
use super::{APP_PASSWORD, APP_USER};

/// Where distributions put the Galera 4 provider.
const PROVIDERS: &[&str] = &[
    "/usr/lib/galera/libgalera_smm.so",
    "/usr/lib/galera-4/libgalera_smm.so",
    "/usr/lib64/galera-4/libgalera_smm.so",
    "/usr/lib64/galera/libgalera_smm.so",
];

/// Failure detection and gcache of every node (part of `wsrep_provider_options`).
///
/// A node that stops answering is suspected after 3 s and dropped by then or after 6 s at
/// most. With 1 s / 2 s the membership flapped forever on a loaded 2-core machine ("install
/// timer expired", non-Primary); 3 s / 6 s held.
pub(crate) const PROVIDER_TIMING: &str = "evs.suspect_timeout=PT3S;evs.inactive_timeout=PT6S;\
     evs.inactive_check_period=PT0.5S;evs.keepalive_period=PT0.5S;gcache.size=16M";

/// Arguments of every node, before its own and the caller's.
const GALERA_ARGS: &[&str] = &[
    "--binlog-format=ROW",
    "--innodb-autoinc-lock-mode=2",
    "--wsrep-on=ON",
    "--wsrep-sst-method=rsync",
];

/// Bootstraps a new cluster from the node started with it.
const NEW_CLUSTER: &str = "--wsrep-new-cluster";

/// Bound on how long a node may take to notice its isolation: the suspect and inactive
/// timeouts of [`PROVIDER_TIMING`] with room for a loaded machine.
const ISOLATE_BOUND: Duration = Duration::from_secs(20);

/// Pause between two looks at a node's status.
const POLL: Duration = Duration::from_millis(20);

/// Bound on one status query (a node being isolated or joining can be slow to answer).
const STATUS_SQL_BOUND: Duration = Duration::from_secs(2);

/// Lines of log quoted in an error.
const TAIL_LINES: usize = 30;

/// `wsrep_local_state` of a node that is Synced.
const SYNCED: u8 = 4;

/// How [`Sandbox::start_galera_by`] brings the joiners in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GaleraStart {
    /// Every node's data dir is seeded with the cluster's state, so joiners need no state
    /// transfer (about 4 s for three nodes). A joiner that fails this way falls back to SST.
    #[default]
    Seeded,
    /// Joiners start empty-handed and get a full rsync SST from a donor (about 12 s for
    /// three nodes).
    StateTransfer,
}

/// What a Galera node says of itself (`wsrep_%` status and `@@wsrep_desync`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GaleraState {
    /// `wsrep_ready`: whether the node accepts queries on tables.
    pub ready: bool,
    /// `wsrep_local_state`: 1 Joining, 2 Donor/Desynced, 3 Joined, 4 Synced (0 when it is
    /// not in a Primary component).
    pub local_state: u8,
    /// `wsrep_local_state_comment`, e.g. `Synced`, `Donor/Desynced`, `Initialized`.
    pub local_state_comment: String,
    /// `wsrep_cluster_status`: `Primary`, `non-Primary` or `Disconnected`.
    pub cluster_status: String,
    /// `wsrep_cluster_size`: the members of the component the node is in.
    pub cluster_size: u32,
    /// `wsrep_local_index`: the node's index in that component, `None` outside of one.
    pub local_index: Option<u32>,
    /// `@@global.wsrep_desync`.
    pub desync: bool,
}

impl GaleraState {
    /// Synced (local state 4) in a Primary component and ready.
    pub fn is_synced(&self) -> bool {
        self.ready && self.local_state == SYNCED && self.cluster_status == "Primary"
    }
}

/// The Galera side of a sandbox: what every node's arguments are made of.
pub(crate) struct Galera {
    /// `--wsrep-cluster-name`.
    name: String,
    /// `libgalera_smm.so`.
    provider: PathBuf,
    /// Per node: mysql, gcomm, IST and SST ports.
    ports: Vec<NodePorts>,
    /// Bound on one node's start (the sandbox's ready timeout).
    ready_timeout: Duration,
}

/// The ports of one node; it keeps them across restarts.
#[derive(Debug, Clone, Copy)]
struct NodePorts {
    mysql: u16,
    gcomm: u16,
    ist: u16,
    sst: u16,
}

impl Galera {
    /// The arguments of node `i` (without `--wsrep-new-cluster`).
    fn node_args(&self, i: usize) -> Vec<String> {
        let p = self.ports[i];
        let peers: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{}", p.gcomm))
            .collect();
        let mut args: Vec<String> = GALERA_ARGS.iter().map(|a| a.to_string()).collect();
        args.extend([
            format!("--wsrep-provider={}", self.provider.display()),
            format!("--wsrep-cluster-address=gcomm://{}", peers.join(",")),
            format!("--wsrep-cluster-name={}", self.name),
            format!("--wsrep-node-name=n{i}"),
            format!("--wsrep-node-address=127.0.0.1:{}", p.gcomm),
            // Else `wsrep_incoming_addresses` says AUTO for every node.
            format!("--wsrep-node-incoming-address=127.0.0.1:{}", p.mysql),
            format!(
                "--wsrep-provider-options=gmcast.listen_addr=tcp://127.0.0.1:{};\
                 ist.recv_addr=127.0.0.1:{};{PROVIDER_TIMING}",
                p.gcomm, p.ist
            ),
            format!("--wsrep-sst-receive-address=127.0.0.1:{}", p.sst),
        ]);
        args
    }
}

impl Sandbox {
    /// Starts an `n`-node Galera cluster with default options; see
    /// [`Sandbox::start_galera_by`].
    pub async fn start_galera(n: usize) -> Result<Sandbox, SandboxError> {
        Self::start_galera_by(n, SandboxOptions::default(), GaleraStart::Seeded).await
    }

    /// [`Sandbox::start_galera`] with `opts`; see [`Sandbox::start_galera_by`].
    pub async fn start_galera_with(
        n: usize,
        opts: SandboxOptions,
    ) -> Result<Sandbox, SandboxError> {
        Self::start_galera_by(n, opts, GaleraStart::Seeded).await
    }

    /// Starts `n` (at least 1) Galera nodes on 127.0.0.1 forming one cluster, node 0
    /// bootstrapping it and the others joining one by one as `how` says. Returns once every
    /// node is Synced in one Primary component of size `n`; each node's start is bounded by
    /// [`SandboxOptions::ready_timeout`].
    ///
    /// `opts`' server arguments come after the Galera ones and win over them; do not pass
    /// `--wsrep-provider-options`, it would replace the nodes' listen addresses. All other
    /// sandbox methods work on the nodes; [`Sandbox::restart`] rejoins the cluster.
    pub async fn start_galera_by(
        n: usize,
        opts: SandboxOptions,
        how: GaleraStart,
    ) -> Result<Sandbox, SandboxError> {
        if n == 0 {
            return Err(SandboxError::io(
                "a Galera cluster needs at least one node",
                std::io::Error::from(std::io::ErrorKind::InvalidInput),
            ));
        }
        let provider = find_provider()?;
        let ready_timeout = opts.ready_timeout;
        let mut sandbox = Sandbox::prepare(n, opts).await?;
        let mut ports = Vec::with_capacity(n);
        for _ in 0..n {
            ports.push(NodePorts {
                mysql: free_port()?,
                gcomm: free_port()?,
                ist: free_port()?,
                sst: free_port()?,
            });
        }
        sandbox.galera = Some(Galera {
            name: format!("mysql_lb-{}-{}", std::process::id(), ports[0].mysql),
            provider,
            ports,
            ready_timeout,
        });
        let uuid = new_uuid();
        let dirs: Vec<PathBuf> = sandbox.servers.iter().map(|s| s.data_dir()).collect();
        tokio::task::spawn_blocking(move || {
            for (i, data) in dirs.iter().enumerate() {
                if how == GaleraStart::Seeded {
                    write_grastate(data, &uuid, i as i64, i == 0)?;
                }
            }
            Ok::<_, SandboxError>(())
        })
        .await
        .map_err(|e| SandboxError::io("galera seeding task", std::io::Error::other(e)))??;

        for i in 0..n {
            let mut result = sandbox.start_node(i, i == 0).await;
            if result.is_err() && i > 0 && how == GaleraStart::Seeded {
                let first = result.as_ref().err().map(ToString::to_string);
                tracing::warn!(node = i, error = ?first, "seeded join failed; joining by SST");
                result = sandbox.restart_by_sst(i).await;
            }
            result?;
        }
        for i in 0..n {
            sandbox.wait_for(i, ready_timeout, Some(n as u32)).await?;
        }
        Ok(sandbox)
    }

    /// The Galera side; panics on a sandbox that is not a Galera cluster (a misuse, like an
    /// index out of range).
    fn galera(&self) -> &Galera {
        self.galera
            .as_ref()
            .expect("not a Galera sandbox: start it with Sandbox::start_galera")
    }

    /// `mysql:galera://app:app-secret@127.0.0.1:P0,127.0.0.1:P1,.../`: every node in order, as
    /// the non-SUPER [`APP_USER`].
    pub fn galera_url(&self) -> String {
        let hosts: Vec<String> = (0..self.len())
            .map(|i| format!("127.0.0.1:{}", self.port(i)))
            .collect();
        format!(
            "mysql:galera://{APP_USER}:{APP_PASSWORD}@{}/",
            hosts.join(",")
        )
    }

    /// What node `i` says of itself. Works on an isolated node too (status reads need no
    /// Primary component).
    pub async fn galera_state(&self, i: usize) -> Result<GaleraState, SandboxError> {
        self.galera_state_within(i, self.sql_timeout).await
    }

    async fn galera_state_within(
        &self,
        i: usize,
        bound: Duration,
    ) -> Result<GaleraState, SandboxError> {
        let rows = self
            .sql_within(
                i,
                "SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS \
                 WHERE VARIABLE_NAME IN ('WSREP_READY', 'WSREP_LOCAL_STATE', \
                 'WSREP_LOCAL_STATE_COMMENT', 'WSREP_CLUSTER_STATUS', 'WSREP_CLUSTER_SIZE', \
                 'WSREP_LOCAL_INDEX') \
                 UNION ALL SELECT 'WSREP_DESYNC', IF(@@global.wsrep_desync, 'ON', 'OFF')",
                bound,
            )
            .await?;
        let vars: HashMap<String, String> = rows
            .iter()
            .filter_map(|row| {
                let name: String = row.get_opt(0)?.ok()?;
                let value: String = row.get_opt(1)?.ok()?;
                Some((name.to_ascii_uppercase(), value))
            })
            .collect();
        let get = |name: &str| vars.get(name).map(String::as_str).unwrap_or("");
        Ok(GaleraState {
            ready: get("WSREP_READY") == "ON",
            local_state: get("WSREP_LOCAL_STATE").parse().unwrap_or(0),
            local_state_comment: get("WSREP_LOCAL_STATE_COMMENT").to_string(),
            cluster_status: get("WSREP_CLUSTER_STATUS").to_string(),
            cluster_size: get("WSREP_CLUSTER_SIZE").parse().unwrap_or(0),
            // Outside a component it is u64::MAX, which does not fit.
            local_index: get("WSREP_LOCAL_INDEX").parse().ok(),
            desync: get("WSREP_DESYNC") == "ON",
        })
    }

    /// Waits, at most `timeout`, until node `i` is Synced in a Primary component and ready.
    /// Fails at once, with its log tail, if its process is gone.
    pub async fn wait_synced(&self, i: usize, timeout: Duration) -> Result<(), SandboxError> {
        self.wait_for(i, timeout, None).await
    }

    /// [`Sandbox::wait_synced`], and when `size` is given, until the component has that many
    /// members.
    async fn wait_for(
        &self,
        i: usize,
        timeout: Duration,
        size: Option<u32>,
    ) -> Result<(), SandboxError> {
        let give_up = Instant::now() + timeout;
        loop {
            if !self.is_running(i) {
                return Err(self.node_error(i, "its mariadbd exited".to_string()));
            }
            let last = match self.galera_state_within(i, STATUS_SQL_BOUND).await {
                Ok(state) if state.is_synced() && size.is_none_or(|n| state.cluster_size == n) => {
                    return Ok(());
                }
                Ok(state) => format!("{state:?}"),
                Err(e) => e.to_string(),
            };
            if Instant::now() >= give_up {
                let want = match size {
                    Some(n) => format!("Synced in a Primary component of {n}"),
                    None => "Synced in a Primary component".to_string(),
                };
                return Err(self.node_error(
                    i,
                    format!("not {want} within {timeout:?} (last seen: {last})"),
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// A startup error for node `i` quoting its log.
    fn node_error(&self, i: usize, reason: String) -> SandboxError {
        let log = self.log_path(i);
        SandboxError::Startup {
            index: i,
            port: self.port(i),
            reason: format!("Galera node: {reason}"),
            tail: log_tail(&log, TAIL_LINES),
            log,
        }
    }

    /// Cuts node `i` off the others (`gmcast.isolate=1`). Returns once it reports a
    /// non-Primary component (within the suspect timeout, a few seconds); the others go on
    /// as a Primary component without it. Table access on it then fails with error 1047.
    pub async fn isolate(&self, i: usize) -> Result<(), SandboxError> {
        self.exec(i, "SET GLOBAL wsrep_provider_options = 'gmcast.isolate=1'")
            .await?;
        let give_up = Instant::now() + ISOLATE_BOUND;
        loop {
            match self.galera_state_within(i, STATUS_SQL_BOUND).await {
                Ok(state) if state.cluster_status != "Primary" => return Ok(()),
                Ok(_) | Err(_) if Instant::now() < give_up => tokio::time::sleep(POLL).await,
                Ok(state) => {
                    return Err(SandboxError::Replication {
                        index: i,
                        reason: format!(
                            "Galera node still in a Primary component {ISOLATE_BOUND:?} after \
                             gmcast.isolate=1: {state:?}"
                        ),
                    });
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Ends [`Sandbox::isolate`] (`gmcast.isolate=0`): node `i` rejoins (by IST) and this
    /// returns once it is Synced again, bounded by the sandbox's ready timeout.
    pub async fn rejoin(&self, i: usize) -> Result<(), SandboxError> {
        self.exec(i, "SET GLOBAL wsrep_provider_options = 'gmcast.isolate=0'")
            .await?;
        self.wait_synced(i, self.galera().ready_timeout).await
    }

    /// `SET GLOBAL wsrep_desync = ON|OFF` on node `i`. Desynced it reports local state 2
    /// "Donor/Desynced" and stays Primary and ready; turned off, this returns once it is
    /// Synced again.
    pub async fn desync(&self, i: usize, on: bool) -> Result<(), SandboxError> {
        let value = if on { "ON" } else { "OFF" };
        self.exec(i, &format!("SET GLOBAL wsrep_desync = {value}"))
            .await?;
        if !on {
            self.wait_synced(i, self.galera().ready_timeout).await?;
        }
        Ok(())
    }

    /// Kills node `i`, replaces its data dir with a fresh copy of the template (no Galera
    /// state) and starts it: it joins by a full rsync SST. Returns once it is Synced.
    pub async fn rejoin_by_sst(&self, i: usize) -> Result<(), SandboxError> {
        self.restart_by_sst(i).await
    }

    /// [`Sandbox::rejoin_by_sst`].
    async fn restart_by_sst(&self, i: usize) -> Result<(), SandboxError> {
        self.servers[i].kill();
        self.wait_dropped(i).await;
        let data = self.servers[i].data_dir();
        let template = self.template.clone();
        tokio::task::spawn_blocking(move || {
            match std::fs::remove_dir_all(&data) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(SandboxError::io(format!("removing {}", data.display()), e));
                }
            }
            copy_tree(&template, &data).map_err(|e| {
                SandboxError::io(format!("copying the template to {}", data.display()), e)
            })
        })
        .await
        .map_err(|e| SandboxError::io("galera wipe task", std::io::Error::other(e)))??;
        self.start_node(i, false).await
    }

    /// Restarts Galera node `i`: it joins the nodes that run (IST when their gcache still
    /// holds what it missed, SST otherwise) or, when none runs, bootstraps a new cluster.
    pub(super) async fn restart_galera(&self, i: usize) -> Result<(), SandboxError> {
        self.servers[i].kill();
        let alone = (0..self.len()).all(|j| j == i || !self.is_running(j));
        if !alone {
            self.wait_dropped(i).await;
        }
        if alone {
            let data = self.servers[i].data_dir();
            tokio::task::spawn_blocking(move || allow_bootstrap(&data))
                .await
                .map_err(|e| {
                    SandboxError::io("galera bootstrap task", std::io::Error::other(e))
                })??;
        }
        self.start_node(i, alone).await
    }

    /// Waits, at most [`ISOLATE_BOUND`], until a running node sees a Primary component of
    /// exactly the running nodes, i.e. it has dropped the killed node `i`.
    ///
    /// Why: the others count a SIGKILLed node as a member until its suspect timeout, and its
    /// restarted self joins as a new member meanwhile. The component then has one member
    /// too many, so one more node lost soon after (a kill, a wipe for SST) leaves no
    /// majority and the whole cluster non-Primary. Best effort: on timeout the start goes
    /// ahead and its own bounded wait reports what is wrong.
    async fn wait_dropped(&self, i: usize) {
        let running: Vec<usize> = (0..self.len())
            .filter(|&j| j != i && self.is_running(j))
            .collect();
        let Some(&witness) = running.first() else {
            return;
        };
        let give_up = Instant::now() + ISOLATE_BOUND;
        while Instant::now() < give_up {
            if let Ok(state) = self.galera_state_within(witness, STATUS_SQL_BOUND).await
                && state.cluster_status == "Primary"
                && state.cluster_size as usize == running.len()
            {
                return;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Starts node `i` (bootstrapping a new cluster if `bootstrap`) on its ports and waits
    /// until it is Synced. Later starts never bootstrap unless asked again.
    async fn start_node(&self, i: usize, bootstrap: bool) -> Result<(), SandboxError> {
        let galera = self.galera();
        let args = galera.node_args(i);
        let server = &self.servers[i];
        let node_dir = server.data_dir();
        let sandbox_dir = self.dir().to_path_buf();
        tokio::task::spawn_blocking(move || open_to_rsync(&sandbox_dir, &node_dir))
            .await
            .map_err(|e| SandboxError::io("galera chown task", std::io::Error::other(e)))??;
        let mut first = args.clone();
        if bootstrap {
            first.push(NEW_CLUSTER.to_string());
        }
        server.set_own_args(first);
        let started = self.start_on_port(i, galera.ports[i].mysql).await;
        server.set_own_args(args);
        started?;
        self.wait_synced(i, galera.ready_timeout).await
    }
}

/// The Galera 4 provider library.
fn find_provider() -> Result<PathBuf, SandboxError> {
    PROVIDERS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| SandboxError::MissingServer {
            program: "libgalera_smm.so (the galera-4 package)".to_string(),
            searched: PROVIDERS.join(", "),
        })
}

/// A random UUID (Linux's), or one made of the time and pid should that be unreadable.
fn new_uuid() -> String {
    if let Ok(text) = std::fs::read_to_string("/proc/sys/kernel/random/uuid") {
        let text = text.trim();
        if text.len() == 36 {
            return text.to_string();
        }
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let hex = format!("{:032x}", nanos ^ (u128::from(std::process::id()) << 96));
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Writes Galera's saved state into `data`: the cluster `uuid` at `seqno`.
fn write_grastate(
    data: &Path,
    uuid: &str,
    seqno: i64,
    bootstrap: bool,
) -> Result<(), SandboxError> {
    let path = data.join("grastate.dat");
    let text = format!(
        "# GALERA saved state\nversion: 2.1\nuuid:    {uuid}\nseqno:   {seqno}\n\
         safe_to_bootstrap: {}\n",
        u8::from(bootstrap)
    );
    std::fs::write(&path, text)
        .map_err(|e| SandboxError::io(format!("writing {}", path.display()), e))
}

/// Sets `safe_to_bootstrap: 1` in `data`'s `grastate.dat`, if it has one (a node without
/// one may bootstrap anyway). Galera refuses to bootstrap from a node without it, and a
/// SIGKILLed node never gets it.
fn allow_bootstrap(data: &Path) -> Result<(), SandboxError> {
    let path = data.join("grastate.dat");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(SandboxError::io(format!("reading {}", path.display()), e)),
    };
    let mut out: String = text
        .lines()
        .filter(|l| !l.starts_with("safe_to_bootstrap:"))
        .map(|l| format!("{l}\n"))
        .collect();
    out.push_str("safe_to_bootstrap: 1\n");
    std::fs::write(&path, out)
        .map_err(|e| SandboxError::io(format!("writing {}", path.display()), e))
}

/// When running as root: lets the joiner's `rsync --daemon`, which drops to `nobody`, write
/// `data` (handed to `nobody`) and reach it (the sandbox dir and the node dir made 0755).
/// Nothing to do for anyone else: the daemon then runs as the same user as the server.
fn open_to_rsync(sandbox_dir: &Path, data: &Path) -> Result<(), SandboxError> {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(());
    }
    let (uid, gid) = nobody()?;
    let mut dirs = vec![sandbox_dir.to_path_buf()];
    if let Some(node_dir) = data.parent() {
        dirs.push(node_dir.to_path_buf());
    }
    for dir in dirs {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| SandboxError::io(format!("chmod 755 {}", dir.display()), e))?;
    }
    chown_tree(data, uid, gid)
}

/// The uid and gid of `nobody`.
fn nobody() -> Result<(libc::uid_t, libc::gid_t), SandboxError> {
    let name = CString::new("nobody").expect("no NUL in a literal");
    // SAFETY: getpwnam reads a static buffer; we copy the two numbers out at once, and the
    // sandbox calls it from one blocking task at a time per node (a race with another
    // getpwnam in the process would at worst give the wrong ids, caught by rsync).
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return Err(SandboxError::io(
            "looking up user `nobody` (rsync SST as root runs as it)",
            std::io::Error::from(std::io::ErrorKind::NotFound),
        ));
    }
    // SAFETY: checked non-null above.
    Ok(unsafe { ((*pw).pw_uid, (*pw).pw_gid) })
}

/// `chown -R uid:gid path`, not following symlinks.
fn chown_tree(path: &Path, uid: libc::uid_t, gid: libc::gid_t) -> Result<(), SandboxError> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|e| SandboxError::io(format!("chown {}", path.display()), e.into()))?;
    // SAFETY: a valid NUL-terminated path.
    if unsafe { libc::lchown(c.as_ptr(), uid, gid) } != 0 {
        return Err(SandboxError::io(
            format!("chown {}", path.display()),
            std::io::Error::last_os_error(),
        ));
    }
    let meta = std::fs::symlink_metadata(path)
        .map_err(|e| SandboxError::io(format!("stat {}", path.display()), e))?;
    if meta.is_dir() {
        let entries = std::fs::read_dir(path)
            .map_err(|e| SandboxError::io(format!("reading {}", path.display()), e))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| SandboxError::io(format!("reading {}", path.display()), e))?;
            chown_tree(&entry.path(), uid, gid)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_made_up_uuid_has_the_right_shape() {
        let uuid = new_uuid();
        assert_eq!(uuid.len(), 36, "{uuid}");
        assert_eq!(uuid.matches('-').count(), 4, "{uuid}");
    }

    #[test]
    fn bootstrap_is_allowed_in_an_existing_grastate() {
        let dir =
            std::env::temp_dir().join(format!("mysql_lb-grastate-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        write_grastate(&dir, "u", 3, false).unwrap();
        allow_bootstrap(&dir).unwrap();
        let text = std::fs::read_to_string(dir.join("grastate.dat")).unwrap();
        assert!(text.contains("seqno:   3\n"), "{text}");
        assert!(text.contains("safe_to_bootstrap: 1\n"), "{text}");
        assert!(!text.contains("safe_to_bootstrap: 0"), "{text}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
