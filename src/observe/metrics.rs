//! Metrics through the `metrics` facade (feature `metrics`): the application installs the
//! recorder it wants (Prometheus, OpenTelemetry, StatsD) and these land there. Without the
//! feature every function here is empty and inlined away.
//!
//! Per-host handles are registered once, at a host's first statement, not looked up per
//! statement (a lookup builds label strings); so the recorder must be installed before the
//! first statement. Names and labels are in the README's table, checked by a test.

use std::time::Duration;

use crate::addr::HostAddr;

/// Every metric: name, kind, labels, meaning (the README's table follows this list).
pub(crate) const METRICS: &[(&str, &str, &str, &str)] = &[
    (
        "mysql_lb_statements_total",
        "counter",
        "host",
        "statements that completed",
    ),
    (
        "mysql_lb_statement_errors_total",
        "counter",
        "host",
        "statements that returned an error, of any kind",
    ),
    (
        "mysql_lb_host_failures_total",
        "counter",
        "host",
        "errors the exception checker blamed on the host (a failed connect, a lost connection)",
    ),
    (
        "mysql_lb_statement_duration_seconds",
        "histogram",
        "host",
        "time of each completed statement",
    ),
    (
        "mysql_lb_failovers_total",
        "counter",
        "from, to, reason",
        "handles that lost a connection and moved to another host; reason is `timeout`, `connection`, `server`, `tls`, `hedge` (another host answered a hedged read first) or `other`",
    ),
    (
        "mysql_lb_blacklist_additions_total",
        "counter",
        "host",
        "hosts put on a blacklist",
    ),
    (
        "mysql_lb_blacklisted_hosts",
        "gauge",
        "",
        "hosts on the process-wide blacklist now",
    ),
    (
        "mysql_lb_pool_connections",
        "gauge",
        "host, state",
        "a pool's connections to the host: `state` is `open`, `idle` or `busy`",
    ),
    (
        "mysql_lb_pool_waiting",
        "gauge",
        "",
        "checkouts waiting because every usable host is at pool_max",
    ),
    (
        "mysql_lb_pool_checkout_wait_seconds",
        "histogram",
        "host",
        "time a checkout took, by the host it got",
    ),
    (
        "mysql_lb_pool_exhausted_total",
        "counter",
        "",
        "checkouts that gave up after acquire_timeout",
    ),
    (
        "mysql_lb_replication_lag_seconds",
        "gauge",
        "host",
        "a replica's lag as a replication pool's monitor last read it; NaN while its replication is stopped",
    ),
    (
        "mysql_lb_host_writable",
        "gauge",
        "host",
        "1 when a replication pool's monitor found the host writable, 0 read-only",
    ),
    (
        "mysql_lb_galera_node_state",
        "gauge",
        "host",
        "a Galera node's wsrep_local_state as the monitor last read it (4 Synced, 2 Donor/Desynced, 1 Joining, 3 Joined), 0 outside a Primary component or not answering",
    ),
];

#[cfg(feature = "metrics")]
mod on {
    use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};

    use super::*;

    /// One host's handles.
    #[derive(Clone)]
    pub(crate) struct HostMetrics {
        statements: Counter,
        errors: Counter,
        failures: Counter,
        duration: Histogram,
        open: Gauge,
        idle: Gauge,
        busy: Gauge,
        checkout: Histogram,
        host: String,
    }

    impl HostMetrics {
        pub(crate) fn new(addr: &HostAddr) -> HostMetrics {
            let h = addr.to_string();
            let state = |s: &'static str| gauge!("mysql_lb_pool_connections", "host" => h.clone(), "state" => s);
            HostMetrics {
                statements: counter!("mysql_lb_statements_total", "host" => h.clone()),
                errors: counter!("mysql_lb_statement_errors_total", "host" => h.clone()),
                failures: counter!("mysql_lb_host_failures_total", "host" => h.clone()),
                duration: histogram!("mysql_lb_statement_duration_seconds", "host" => h.clone()),
                open: state("open"),
                idle: state("idle"),
                busy: state("busy"),
                checkout: histogram!("mysql_lb_pool_checkout_wait_seconds", "host" => h.clone()),
                host: h,
            }
        }
        #[inline]
        pub(crate) fn statement(&self, took: Duration) {
            self.statements.increment(1);
            self.duration.record(took.as_secs_f64());
        }
        #[inline]
        pub(crate) fn error(&self) {
            self.errors.increment(1);
        }
        #[inline]
        pub(crate) fn failure(&self) {
            self.failures.increment(1);
        }
        /// A pool's connections changed by `open` opened (negative: closed) and `idle` gone
        /// idle (negative: taken); busy is open minus idle. Deltas, so that several pools
        /// over one host add up.
        #[inline]
        pub(crate) fn pool(&self, open: isize, idle: isize) {
            self.open.increment(open as f64);
            self.idle.increment(idle as f64);
            self.busy.increment((open - idle) as f64);
        }
        #[inline]
        pub(crate) fn checkout(&self, took: Duration) {
            self.checkout.record(took.as_secs_f64());
        }
        /// What a replication monitor found: registered only here, so that hosts outside
        /// a replication pool export no role or lag. `lag`: `None` when not a replica,
        /// `Some(None)` when replication is stopped (NaN: unknown, not 0).
        pub(crate) fn replication(&self, writable: bool, lag: Option<Option<Duration>>) {
            let h = self.host.clone();
            gauge!("mysql_lb_host_writable", "host" => h.clone()).set(if writable {
                1.0
            } else {
                0.0
            });
            if let Some(lag) = lag {
                let secs = lag.map_or(f64::NAN, |l| l.as_secs_f64());
                gauge!("mysql_lb_replication_lag_seconds", "host" => h).set(secs);
            }
        }
        /// A Galera node's state as the monitor read it (0: out of a Primary component, or
        /// not answering); registered only by a Galera pool's monitor.
        pub(crate) fn galera(&self, local_state: u8) {
            gauge!("mysql_lb_galera_node_state", "host" => self.host.clone())
                .set(f64::from(local_state));
        }
    }

    impl std::fmt::Debug for HostMetrics {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("HostMetrics")
        }
    }

    pub(crate) fn failover(from: &HostAddr, to: &HostAddr, reason: &'static str) {
        counter!("mysql_lb_failovers_total", "from" => from.to_string(), "to" => to.to_string(), "reason" => reason).increment(1);
    }
    pub(crate) fn blacklisted(host: &HostAddr) {
        counter!("mysql_lb_blacklist_additions_total", "host" => host.to_string()).increment(1);
    }
    pub(crate) fn blacklist_size(n: usize) {
        gauge!("mysql_lb_blacklisted_hosts").set(n as f64);
    }
    pub(crate) fn waiting(delta: f64) {
        gauge!("mysql_lb_pool_waiting").increment(delta);
    }
    pub(crate) fn exhausted() {
        counter!("mysql_lb_pool_exhausted_total").increment(1);
    }
}

#[cfg(not(feature = "metrics"))]
mod on {
    use super::*;

    /// Without the feature: nothing.
    #[derive(Clone, Debug)]
    pub(crate) struct HostMetrics;

    impl HostMetrics {
        #[inline]
        pub(crate) fn new(_: &HostAddr) -> HostMetrics {
            HostMetrics
        }
        #[inline]
        pub(crate) fn statement(&self, _: Duration) {}
        #[inline]
        pub(crate) fn error(&self) {}
        #[inline]
        pub(crate) fn failure(&self) {}
        #[inline]
        pub(crate) fn pool(&self, _: isize, _: isize) {}
        #[inline]
        pub(crate) fn checkout(&self, _: Duration) {}
        #[inline]
        pub(crate) fn replication(&self, _: bool, _: Option<Option<Duration>>) {}
        #[inline]
        pub(crate) fn galera(&self, _: u8) {}
    }

    #[inline]
    pub(crate) fn failover(_: &HostAddr, _: &HostAddr, _: &'static str) {}
    #[inline]
    pub(crate) fn blacklisted(_: &HostAddr) {}
    #[inline]
    pub(crate) fn blacklist_size(_: usize) {}
    #[inline]
    pub(crate) fn waiting(_: f64) {}
    #[inline]
    pub(crate) fn exhausted() {}
}

pub(crate) use on::*;
