//! `mysql_lb_sandbox`: real MariaDB servers and a TCP fault proxy, for `mysql_lb`'s tests and
//! benches and for the `mysql-lb` command (`demo`, `bench --sandbox`, `soak`, `sandbox`).
//!
//! A package of its own in the workspace (`publish = false`): a service that depends on
//! `mysql_lb` does not compile it. It does not depend on `mysql_lb` either, on purpose: the
//! library's tests take it as a dev-dependency, and one that depended back on the library
//! would link a second copy of it into them, with its own process-wide blacklist and stats.
//! What the sandbox used to do to the library's state (clear a reused port from the
//! blacklist) is replaced by a rule of its own: a port is never handed out twice in one
//! process (`ports.rs`).
//!
//! Linux only: children are tied to their parent with `prctl(PR_SET_PDEATHSIG)`, servers are
//! paused with `SIGSTOP` and watched through `/proc`, and the proxy relies on Linux's
//! `shutdown(2)` of a listening socket; all of it through `libc`.
//!
//! A load balancer is only as good as its behaviour when hosts die, hang or drop
//! connections, and mocks of the MySQL protocol do not reproduce how a real server and
//! `mysql_async` react to that. This module therefore runs real `mariadbd` processes
//! ([`Sandbox`]) and puts a misbehaving TCP hop in front of them on demand ([`FaultProxy`]).
//!
//! The pieces, one concept per file:
//! - [`Sandbox`] (`cluster.rs`): N servers in one temp dir, with kill / pause / restart.
//! - `replication.rs`: the same servers as a GTID replication set (one source, N replicas)
//!   with lag, promote and demote ([`Sandbox::start_replication`]), and the non-SUPER
//!   [`APP_USER`] for whom `read_only` holds.
//! - `galera.rs`: the same servers as a Galera cluster ([`Sandbox::start_galera`]) with
//!   isolate / rejoin / desync, restarts that rejoin by IST and [`Sandbox::rejoin_by_sst`].
//! - `server.rs`: one `mariadbd` process, started on a port and waited for by reading its log.
//! - `template.rs`: the data directory made once by `mariadb-install-db` and copied per server.
//! - `spawner.rs`: the single thread that forks every child, so children die with the process.
//! - `exit.rs`: killing servers and removing dirs of undropped sandboxes at normal exit.
//! - `tempdirs.rs`: naming the per-process temp dirs and sweeping those of dead processes.
//! - `ports.rs`: within one process a port is never handed out twice (servers, proxies and
//!   [`fresh_port`] share one set), so state the code under test keeps per host and port
//!   (a blacklist, latency statistics) never carries over from one sandbox to a later one.
//! - [`FaultProxy`] (`proxy.rs`): Pass / Latency / Blackhole / Reset / Refuse / CutReplyTo in
//!   front of a server.
//! - [`TestCerts`] (`tls.rs`): a CA, server and client certificates (and a wrong CA and a
//!   wrong-name server certificate) made with `rcgen` at run time, for servers started with
//!   [`SandboxOptions::tls`] and [`SandboxOptions::require_secure_transport`].
//! - [`SandboxError`] (`error.rs`).
//!
//! Every connection made to a sandbox server through a proxy must use
//! `prefer_socket(false)`: by default `mysql_async` reads `@@socket` after a TCP connect and
//! switches to that Unix socket when the path exists, which would silently bypass the proxy.
//! [`Sandbox::opts`] already sets it.
//!
//! TLS for the sandbox's own connections comes from `mysql_async` through one of this
//! package's features, `rustls` (the default, ring as crypto provider) or `native-tls`
//! (OpenSSL; build with `default-features = false`), mirroring `mysql_lb`'s features.

mod cluster;
mod error;
mod exit;
mod galera;
mod ports;
mod proxy;
mod replication;
mod server;
mod spawner;
mod tempdirs;
mod template;
mod tls;

pub use cluster::{Sandbox, SandboxOptions};
pub use error::SandboxError;
pub use galera::{GaleraStart, GaleraState};
pub use ports::fresh_port;
pub use proxy::{FaultProxy, ProxyMode};
pub use replication::{APP_PASSWORD, APP_USER};
pub use tls::{TestCerts, WRONG_NAME};

/// The account every sandbox server has: `ALL PRIVILEGES ... WITH GRANT OPTION`, reachable
/// over TCP from 127.0.0.1.
pub const USER: &str = "lb";

/// The password of [`USER`].
pub const PASSWORD: &str = "lb-secret";
