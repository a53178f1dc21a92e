//! Reading what the user typed: connection strings and durations, into `Outcome::BadInput`
//! on failure, and the tokio runtime every networked subcommand runs on.

use std::time::Duration;

use mysql_lb::LbOpts;

use crate::Outcome;

/// Parses a connection string; a bad one is bad input (exit 2), naming the bad part.
pub(crate) fn lb_opts(url: &str) -> Result<LbOpts, Outcome> {
    url.parse::<LbOpts>()
        .map_err(|e| Outcome::BadInput(format!("bad connection string: {e}")))
}

/// A clap value parser for durations with a unit (`500ms`, `10s`, `1.5s`).
pub(crate) fn duration(value: &str) -> Result<Duration, String> {
    mysql_lb::parse_duration(value)
}

/// The runtime of one subcommand: two workers, like the machine this is measured on.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Outcome> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Outcome::Failed(format!("cannot start the async runtime: {e}")))
}

/// The parsed connection string and a runtime: the start of every subcommand that talks to
/// the hosts of one URL.
pub(crate) fn opts_and_runtime(url: &str) -> Result<(LbOpts, tokio::runtime::Runtime), Outcome> {
    Ok((lb_opts(url)?, runtime()?))
}

/// Milliseconds as a float, for reports.
pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
