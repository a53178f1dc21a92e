//! The drivers a bench can run: `mysql_lb`'s `LoadBalancedConnection`, the autoReconnect
//! emulation, and plain `mysql_async` (one `Conn` per task, no balancing: the floor the other
//! two are measured against). One enum, so the workload loop is the same for all.

use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_lb::{HostAddr, LbOpts, LoadBalancedConnection};

use crate::autoreconnect::AutoReconnect;
use crate::failure;

/// Which driver, as chosen by `--driver`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Kind {
    /// mysql_lb's LoadBalancedConnection.
    Lb,
    /// Connector/J's autoReconnect=true, emulated (sleeps between reconnects).
    Autoreconnect,
    /// Plain mysql_async: task i keeps one Conn to host i mod N, no balancing and no failover
    /// (a lost connection is dialled again to the same host; after 3 failed connects in a
    /// row, 100 ms later, as compare/java/LbBench.java does); connect_timeout and
    /// socket_timeout bound each step as in the other drivers.
    #[value(name = "mysql-async")]
    #[serde(rename = "mysql_async")]
    MysqlAsync,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Lb => "lb",
            Kind::Autoreconnect => "autoreconnect",
            Kind::MysqlAsync => "mysql_async",
        }
    }
}

/// Settings of the autoReconnect emulation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reconnect {
    pub(crate) max_reconnects: u32,
    pub(crate) initial_timeout: Duration,
}

/// One logical connection of any kind, with the run's host list so that it can name the host
/// of each statement by its index without allocating.
pub(crate) struct Driver {
    inner: Inner,
    hosts: Arc<[HostAddr]>,
}

enum Inner {
    /// `None` until connected, and again after a failed connect.
    /// (Boxed: a handle is far larger than the emulation's state.)
    Lb(LbOpts, Option<Box<LoadBalancedConnection>>),
    Auto(AutoReconnect),
    Raw(Raw),
}

/// The plain `mysql_async` driver's state.
struct Raw {
    opts: LbOpts,
    /// Index of its host in the run's host list.
    host: usize,
    conn: Option<mysql_async::Conn>,
    /// Failed connects in a row.
    failed_connects: u32,
}

/// Failed connects in a row after which the plain driver waits before the next one.
const CONNECT_FAILURES_BEFORE_PAUSE: u32 = 3;
/// How long it waits then.
const CONNECT_PAUSE: Duration = Duration::from_millis(100);

impl Driver {
    /// Driver for task number `task` (the plain `mysql_async` driver uses it to pick a host).
    pub(crate) fn new(kind: Kind, opts: LbOpts, reconnect: Reconnect, task: usize) -> Driver {
        let hosts: Arc<[HostAddr]> = opts.hosts().iter().map(|h| h.addr.clone()).collect();
        let inner = match kind {
            Kind::Lb => Inner::Lb(opts, None),
            Kind::Autoreconnect => Inner::Auto(AutoReconnect::new(
                opts,
                reconnect.max_reconnects,
                reconnect.initial_timeout,
            )),
            Kind::MysqlAsync => Inner::Raw(Raw {
                opts,
                host: task % hosts.len().max(1),
                conn: None,
                failed_connects: 0,
            }),
        };
        Driver { inner, hosts }
    }

    /// Runs `sql`, dropping its rows: the index of the host that served it (or failed), and
    /// whether it succeeded.
    pub(crate) async fn run(&mut self, sql: &str) -> (Option<u16>, Result<(), String>) {
        let hosts = &self.hosts;
        match &mut self.inner {
            Inner::Lb(opts, slot) => {
                if slot.is_none() {
                    match LoadBalancedConnection::connect(opts.clone()).await {
                        Ok(c) => *slot = Some(Box::new(c)),
                        Err(e) => return (None, Err(e.to_string())),
                    }
                }
                let Some(conn) = slot.as_mut() else {
                    return (None, Err("not connected".to_owned()));
                };
                let before = index(hosts, conn.current_host());
                let result = conn.query_drop(sql).await;
                let after = index(hosts, conn.current_host());
                match result {
                    Ok(()) => (after, Ok(())),
                    Err(e) => (before.or(after), Err(e.to_string())),
                }
            }
            Inner::Auto(a) => {
                let (host, result) = a.query_drop(sql).await;
                (
                    index(hosts, host.as_ref()),
                    result.map_err(|e| e.to_string()),
                )
            }
            Inner::Raw(raw) => {
                let result = raw.query(&hosts[raw.host], sql).await;
                (Some(raw.host as u16), result.map_err(|e| e.to_string()))
            }
        }
    }

    pub(crate) async fn disconnect(self) {
        match self.inner {
            Inner::Lb(_, Some(conn)) => conn.disconnect().await,
            Inner::Lb(_, None) => {}
            Inner::Auto(a) => a.disconnect().await,
            Inner::Raw(raw) => {
                if let Some(conn) = raw.conn {
                    let _ = conn.disconnect().await;
                }
            }
        }
    }
}

/// The index of `h` in the run's host list (a few string compares, no allocation).
fn index(hosts: &[HostAddr], h: Option<&HostAddr>) -> Option<u16> {
    let h = h?;
    hosts.iter().position(|x| x == h).map(|i| i as u16)
}

impl Raw {
    /// One statement on the connection to `host`, dialled first if there is none; a
    /// connection that failed or timed out is dropped (never reused).
    async fn query(&mut self, host: &HostAddr, sql: &str) -> Result<(), mysql_async::Error> {
        let mut conn = match self.conn.take() {
            Some(c) => c,
            None => {
                if self.failed_connects >= CONNECT_FAILURES_BEFORE_PAUSE {
                    tokio::time::sleep(CONNECT_PAUSE).await;
                    self.failed_connects = 0;
                }
                let connect = mysql_async::Conn::new(self.opts.mysql_opts(host));
                let made = match tokio::time::timeout(self.opts.connect_timeout(), connect).await {
                    Ok(made) => made,
                    Err(_) => Err(timed_out(host, "connect")),
                };
                match made {
                    Ok(c) => {
                        self.failed_connects = 0;
                        c
                    }
                    Err(e) => {
                        self.failed_connects += 1;
                        return Err(e);
                    }
                }
            }
        };
        let result = match self.opts.socket_timeout() {
            Some(bound) => match tokio::time::timeout(bound, conn.query_drop(sql)).await {
                Ok(r) => r,
                // Cancelled mid-statement: the connection must not be reused.
                Err(_) => return Err(timed_out(host, "statement")),
            },
            None => conn.query_drop(sql).await,
        };
        match &result {
            Err(e) if failure::is_connection_error(e) => {}
            _ => self.conn = Some(conn),
        }
        result
    }
}

fn timed_out(host: &HostAddr, step: &str) -> mysql_async::Error {
    mysql_async::Error::Io(mysql_async::IoError::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("{step} on host {host} timed out"),
    )))
}
