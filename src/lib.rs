//! `mysql_lb`: a driver-side load balancer for MySQL and MariaDB on top of `mysql_async`.
//!
//! One connection string lists several servers; one handle talks to them and keeps working
//! when some fail. A failed host is put on a process-wide blacklist for a bounded time and the
//! handle moves to another host at once — it never sleeps waiting for a host, which is what
//! makes Connector/J's `autoReconnect` swing from milliseconds to seconds when one replica dies.
//!
//! What a user names is at the root:
//! - [`LoadBalancedConnection`]: one logical connection over several hosts (implements
//!   `mysql_async::prelude::Queryable`), and its [`LoadBalancedTransaction`].
//! - [`LoadBalancedPool`]: pooled connections over several hosts.
//! - [`ReplicationPool`]: sources and replicas, roles and lag checked, causal reads, and
//!   [`ReplicationConnection`], routed by read-only mode; over a Galera cluster
//!   ([`GaleraPool`]), node states checked and one writer every process agrees on.
//! - [`LbOpts`]: the connection string and options (and [`LbOptsBuilder`] for code).
//! - [`Error`], and [`Error::outcome`] for what an error means for the caller's data.
//! - What operators see: a `tracing` span per statement, [`subscribe`] for [`Event`]s (a
//!   host blacklisted or back, a failover, a role change, a Galera node out of rotation), metrics through the `metrics`
//!   facade (feature `metrics`; [`metric_names`]).
//! - DNS SRV connection strings (`mysql+srv://`, feature `srv`): [`LbOpts::resolve`], and
//!   [`LoadBalancedPool::connect`], whose pool follows the records as they change.
//! - Connecting: TLS ([`SslMode`], [`TlsOpts`]), a per-connect hook ([`ConnectParams`]), and
//!   plain `mysql_async::Conn`s for other crates ([`Balancer::connect`]).
//! - Extension points: [`BalanceStrategy`] (how a host is picked), [`ExceptionChecker`]
//!   (which errors mean "this host is bad"), a shared [`Balancer`] or [`Blacklist`].
//!
//! Inside, modules import one way, down (`tests/layers.rs` checks it):
//! `replication -> pool -> conn -> balancer -> {dial, srv} -> {opts, strategy, blacklist,
//! checker, stats} -> {error, observe} -> addr`.

#![warn(missing_docs)]

#[cfg(all(feature = "rustls", feature = "native-tls"))]
compile_error!(
    "mysql_lb: the features `rustls` (a default) and `native-tls` exclude each other, as in \
     mysql_async; for native-tls use `default-features = false, features = [\"native-tls\"]`"
);

mod addr;
mod balancer;
mod blacklist;
mod checker;
mod conn;
mod dial;
mod error;
mod hedge;
mod observe;
mod opts;
mod pool;
mod random;
mod replication;
#[cfg(feature = "srv")]
mod srv;
mod stats;
mod strategy;

pub use balancer::Balancer;
pub use blacklist::{Blacklist, BlacklistEntry};
pub use checker::{ExceptionChecker, StandardChecker};
pub use conn::{LoadBalancedConnection, LoadBalancedTransaction};
pub use error::{DataOutcome, Error, HostFailures, Result, UrlError, UrlErrorKind};
pub use observe::{Event, EventKind, metric_names, subscribe};
pub use opts::{
    ConnectHook, ConnectParams, DEFAULT_PORT, GaleraWriters, HookError, HostAddr, HostSpec, LbOpts,
    LbOptsBuilder, Mode, Role, SslMode, StrategyKind, TlsOpts, option_names, parse_duration,
};
pub use pool::{HostSnapshot, HostState, LoadBalancedPool};
pub use random::seed_thread_rng;
pub use replication::{GaleraPool, ReplicationConnection, ReplicationPool};
pub use stats::HostStats;
pub use strategy::{BalanceStrategy, Candidate, Candidates};
