//! Helpers shared by the integration tests: URLs for a sandbox, and small queries.
#![allow(dead_code)]

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_lb::{HostAddr, LbOpts, LoadBalancedConnection};
use mysql_lb_sandbox::{PASSWORD, Sandbox, USER};

/// A URL over the given ports with extra query options.
pub fn url_for(ports: &[u16], options: &str) -> String {
    let hosts: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    format!("mysql://{USER}:{PASSWORD}@{}/?{options}", hosts.join(","))
}

/// Options over every server of the sandbox.
pub fn opts(sb: &Sandbox, options: &str) -> LbOpts {
    let ports: Vec<u16> = (0..sb.len()).map(|i| sb.port(i)).collect();
    url_for(&ports, options).parse().expect("test URL parses")
}

/// The address of server `i`.
pub fn addr(sb: &Sandbox, i: usize) -> HostAddr {
    HostAddr::new("127.0.0.1", sb.port(i))
}

/// The port of the server that answers.
pub async fn served_by(conn: &mut LoadBalancedConnection) -> mysql_async::Result<u16> {
    let port: Option<u16> = conn.query_first("SELECT @@port").await?;
    Ok(port.expect("one row"))
}

/// Runs `sql` on every server of the sandbox.
pub async fn on_all(sb: &Sandbox, sql: &str) {
    for i in 0..sb.len() {
        sb.exec(i, sql).await.expect("setup SQL");
    }
}

/// A bound for test waits.
pub const BOUND: Duration = Duration::from_secs(30);

/// Replaces user `app` on every server with one of password `app-pw` and only `grants` (e.g.
/// `SELECT ON *.*`): a user without SUPER, for whom `max_connections` and `read_only` hold.
/// (Every sandbox has an `app` of its own, `mysql_lb_sandbox::APP_USER`, with wider grants.)
pub async fn create_app_user(sb: &Sandbox, grants: &str) {
    on_all(sb, "CREATE OR REPLACE USER app@'%' IDENTIFIED BY 'app-pw'").await;
    on_all(sb, &format!("GRANT {grants} TO app@'%'")).await;
}

/// A table `app.<name>` made on the source (server 0) of a replication sandbox, waited for
/// on every replica.
pub async fn make_table(sb: &Sandbox, name: &str) {
    sb.exec(0, "CREATE DATABASE IF NOT EXISTS app")
        .await
        .unwrap();
    sb.exec(
        0,
        &format!("CREATE TABLE app.{name} (id INT PRIMARY KEY, v VARCHAR(20))"),
    )
    .await
    .unwrap();
    for i in 1..sb.len() {
        sb.wait_caught_up(i, BOUND).await.unwrap();
    }
}

/// The test DNS server (`mysql+srv://` tests).
#[cfg(feature = "srv")]
pub mod dns;
