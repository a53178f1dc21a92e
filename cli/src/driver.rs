//! The two drivers a bench can run: `mysql_lb`'s `LoadBalancedConnection`, and the
//! autoReconnect emulation. One enum, so the workload loop is the same for both.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_lb::{HostAddr, LbOpts, LoadBalancedConnection};

use crate::autoreconnect::AutoReconnect;

/// Which driver, as chosen by `--driver`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Kind {
    /// mysql_lb's LoadBalancedConnection.
    Lb,
    /// Connector/J's autoReconnect=true, emulated (sleeps between reconnects).
    Autoreconnect,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Lb => "lb",
            Kind::Autoreconnect => "autoreconnect",
        }
    }
}

/// Settings of the autoReconnect emulation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reconnect {
    pub(crate) max_reconnects: u32,
    pub(crate) initial_timeout: Duration,
}

/// One logical connection of either kind.
pub(crate) enum Driver {
    /// `None` until connected, and again after a failed connect.
    /// (Boxed: a handle is far larger than the emulation's state.)
    Lb(LbOpts, Option<Box<LoadBalancedConnection>>),
    Auto(AutoReconnect),
}

impl Driver {
    pub(crate) fn new(kind: Kind, opts: LbOpts, reconnect: Reconnect) -> Driver {
        match kind {
            Kind::Lb => Driver::Lb(opts, None),
            Kind::Autoreconnect => Driver::Auto(AutoReconnect::new(
                opts,
                reconnect.max_reconnects,
                reconnect.initial_timeout,
            )),
        }
    }

    /// Runs `sql`, dropping its rows: the host that served it (or failed), and whether it
    /// succeeded.
    pub(crate) async fn run(&mut self, sql: &str) -> (Option<HostAddr>, Result<(), String>) {
        match self {
            Driver::Lb(opts, slot) => {
                if slot.is_none() {
                    match LoadBalancedConnection::connect(opts.clone()).await {
                        Ok(c) => *slot = Some(Box::new(c)),
                        Err(e) => return (None, Err(e.to_string())),
                    }
                }
                let Some(conn) = slot.as_mut() else {
                    return (None, Err("not connected".to_owned()));
                };
                let before = conn.current_host().cloned();
                let result = conn.query_drop(sql).await;
                let host = conn.current_host().cloned();
                match result {
                    Ok(()) => (host, Ok(())),
                    Err(e) => (before.or(host), Err(e.to_string())),
                }
            }
            Driver::Auto(a) => {
                let (host, result) = a.query_drop(sql).await;
                (host, result.map_err(|e| e.to_string()))
            }
        }
    }

    pub(crate) async fn disconnect(self) {
        match self {
            Driver::Lb(_, Some(conn)) => conn.disconnect().await,
            Driver::Lb(_, None) => {}
            Driver::Auto(a) => a.disconnect().await,
        }
    }
}
