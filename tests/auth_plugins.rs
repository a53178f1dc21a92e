//! Authentication plugins through `LoadBalancedConnection`, against real MariaDB servers.
//!
//! - `ed25519` (MariaDB's `auth_ed25519`, this crate's feature `ed25519`): a user
//!   `IDENTIFIED VIA ed25519` connects; a wrong password is refused with the server's 1045,
//!   which is not a host failure (no host blacklisted, returned at once).
//! - `parsec` (this crate's feature `parsec`): the PARSEC plugin needs MariaDB 11.6 or later,
//!   and the servers here are Debian 12's MariaDB 10.11, so the feature is only compiled
//!   (`cargo check --features parsec`), not exercised against a server.
#![cfg(feature = "ed25519")]

mod common;

use std::time::Instant;

use common::*;
use mysql_async::prelude::Queryable;
use mysql_lb::{Blacklist, Error, LoadBalancedConnection};
use mysql_lb_sandbox::{Sandbox, SandboxError};

/// MariaDB's "Plugin '%s' already installed".
const ER_PLUGIN_INSTALLED: u16 = 1968;
/// "Access denied for user".
const ER_ACCESS_DENIED: u16 = 1045;

/// Installs `auth_ed25519` on every server and creates user `ed` there with that plugin.
async fn create_ed25519_user(sb: &Sandbox) {
    for i in 0..sb.len() {
        match sb.exec(i, "INSTALL SONAME 'auth_ed25519'").await {
            Ok(()) => {}
            Err(SandboxError::Sql {
                source: mysql_async::Error::Server(e),
                ..
            }) if e.code == ER_PLUGIN_INSTALLED => {}
            Err(e) => panic!("INSTALL SONAME 'auth_ed25519' on server {i}: {e}"),
        }
    }
    on_all(
        sb,
        "CREATE OR REPLACE USER 'ed'@'127.0.0.1' IDENTIFIED VIA ed25519 USING PASSWORD('ed-secret')",
    )
    .await;
    on_all(sb, "GRANT SELECT ON *.* TO 'ed'@'127.0.0.1'").await;
}

/// A URL over every server of the sandbox, as user `ed` with `password`.
fn ed_url(sb: &Sandbox, password: &str) -> String {
    let hosts: Vec<String> = (0..sb.len())
        .map(|i| format!("127.0.0.1:{}", sb.port(i)))
        .collect();
    format!("mysql://ed:{password}@{}/", hosts.join(","))
}

#[tokio::test]
async fn an_ed25519_user_connects_and_a_wrong_password_is_not_a_host_failure() {
    let sb = Sandbox::start(2).await.unwrap();
    create_ed25519_user(&sb).await;
    // The account really uses the plugin (asked as the sandbox's admin user).
    let rows = sb
        .sql(0, "SELECT plugin FROM mysql.user WHERE user = 'ed'")
        .await
        .unwrap();
    let plugin: String = mysql_async::from_row(rows[0].clone());
    assert_eq!(plugin, "ed25519");

    let opts = ed_url(&sb, "ed-secret").parse().unwrap();
    let t = Instant::now();
    let mut conn = tokio::time::timeout(BOUND, LoadBalancedConnection::connect(opts))
        .await
        .expect("bounded")
        .expect("ed25519 login");
    eprintln!("ed25519 connect: {:?}", t.elapsed());
    let me: Option<String> = conn.query_first("SELECT CURRENT_USER()").await.unwrap();
    assert_eq!(me.as_deref(), Some("ed@127.0.0.1"));
    conn.disconnect().await;

    let opts = ed_url(&sb, "not-the-secret").parse().unwrap();
    let t = Instant::now();
    let r = tokio::time::timeout(BOUND, LoadBalancedConnection::connect(opts))
        .await
        .expect("bounded");
    eprintln!("wrong ed25519 password refused in {:?}", t.elapsed());
    match r {
        Err(Error::Mysql(mysql_async::Error::Server(e))) => {
            assert_eq!(e.code, ER_ACCESS_DENIED, "{e}");
        }
        Err(e) => panic!("expected the server's access denied, got: {e}"),
        Ok(_) => panic!("a wrong password was accepted"),
    }
    for i in 0..sb.len() {
        assert!(
            !Blacklist::global().contains(&addr(&sb, i)),
            "a refused login blacklisted server {i}"
        );
    }
}
