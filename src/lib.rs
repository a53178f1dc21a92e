//! `mysql_lb`: a driver-side load balancer for MySQL and MariaDB on top of `mysql_async`.
//!
//! One connection string lists several servers; one handle talks to them and keeps working
//! when some fail. A failed host is put on a process-wide blacklist for a bounded time and the
//! handle moves to another host at once — it never sleeps waiting for a host, which is what
//! makes Connector/J's `autoReconnect` swing from milliseconds to seconds when one replica dies.
//!
//! Where things are:
//! - [`opts`]: the URL parser and the options table ([`LbOpts`]).
//! - [`strategy`]: how a host is picked ([`BalanceStrategy`]).
//! - [`blacklist`]: the process-wide, time-bounded blacklist ([`Blacklist`]).
//! - [`checker`]: which errors mean "this host is bad" ([`ExceptionChecker`]).
//! - [`balancer`]: picking a host and switching at once on failure ([`Balancer`]).
//! - [`conn`]: the logical connection ([`LoadBalancedConnection`]).
//! - [`pool`]: pooled connections over several hosts ([`LoadBalancedPool`]).
//! - [`replication`]: sources and replicas, roles and lag checked, causal reads
//!   ([`ReplicationPool`]).
//! - [`stats`]: per-host response times and load, shared process-wide.

#![warn(missing_docs)]

mod addr;
pub mod balancer;
pub mod blacklist;
pub mod checker;
pub mod conn;
mod error;
pub mod opts;
pub mod pool;
pub mod replication;
pub mod stats;
pub mod strategy;

pub use balancer::Balancer;
pub use blacklist::{Blacklist, BlacklistEntry};
pub use checker::{ExceptionChecker, StandardChecker};
pub use conn::{LbTransaction, LoadBalancedConnection};
pub use error::{DataOutcome, Error, HostFailures, Result, UrlError, UrlErrorKind};
pub use opts::{HostAddr, HostSpec, LbOpts, LbOptsBuilder, Mode, Role, StrategyKind};
pub use pool::{HostSnapshot, HostState, LoadBalancedPool};
pub use replication::{ReplicationConnection, ReplicationPool};
pub use strategy::{BalanceStrategy, Candidate};
