//! Helpers shared by the sandbox's own tests.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use mysql_async::{Conn, OptsBuilder};
use mysql_lb_sandbox::{APP_PASSWORD, APP_USER, Sandbox};

/// Bound on any one step of a test.
pub const BOUND: Duration = Duration::from_secs(60);

/// Fails the test if `fut` does not finish within [`BOUND`].
pub async fn bounded<F: Future>(fut: F) -> F::Output {
    tokio::time::timeout(BOUND, fut)
        .await
        .expect("operation did not finish within the bound")
}

/// A connection to server `i` as the non-SUPER application account, in database `app`.
pub async fn app_conn(sb: &Sandbox, i: usize) -> Conn {
    let opts = OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(sb.port(i))
        .user(Some(APP_USER))
        .pass(Some(APP_PASSWORD))
        .db_name(Some("app"))
        .prefer_socket(false);
    bounded(Conn::new(opts)).await.expect("connect as app")
}
