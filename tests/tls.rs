//! TLS against real mariadbd servers with certificates made at test time: every `ssl_mode`,
//! `require_secure_transport=ON`, a wrong CA, a wrong name, one host of several with a bad
//! certificate, and client-certificate login (`REQUIRE X509`), also set by a connect hook.
//! Run with the default `rustls` feature and, by `scripts/test.sh`, with `native-tls`.

#![cfg(any(feature = "rustls", feature = "native-tls"))]

mod common;

use std::sync::Arc;

use mysql_async::prelude::Queryable;
use mysql_lb::{
    Balancer, Blacklist, Error, HostAddr, LbOpts, LoadBalancedConnection, LoadBalancedPool,
};
use mysql_lb_sandbox::{PASSWORD, Sandbox, SandboxOptions, TestCerts, USER, WRONG_NAME};

/// `mysql://lb:…@127.0.0.1:p1,…/?{options}` over the given sandboxes' servers.
fn url(sandboxes: &[&Sandbox], options: &str) -> String {
    let hosts: Vec<String> = sandboxes
        .iter()
        .flat_map(|sb| (0..sb.len()).map(|i| format!("127.0.0.1:{}", sb.port(i))))
        .collect();
    format!("mysql://{USER}:{PASSWORD}@{}/?{options}", hosts.join(","))
}

fn balancer(url: &str) -> (Arc<Balancer>, Arc<Blacklist>) {
    let blacklist = Arc::new(Blacklist::new());
    let opts: LbOpts = url.parse().unwrap();
    (Balancer::with_blacklist(opts, blacklist.clone()), blacklist)
}

/// The cipher of the handle's current connection ("" in plain text).
async fn cipher(c: &mut LoadBalancedConnection) -> String {
    let row: Option<(String, String)> = c
        .query_first("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        .await
        .unwrap();
    row.map(|r| r.1).unwrap_or_default()
}

/// One server whose certificate (signed by the right CA) is only for `WRONG_NAME`.
async fn wrong_name_server(certs: &TestCerts) -> Sandbox {
    let opts = SandboxOptions::default().tls_with(
        &certs.wrong_name_cert,
        &certs.wrong_name_key,
        &certs.ca,
        WRONG_NAME,
    );
    Sandbox::start_with(1, opts).await.unwrap()
}

/// The reason given for each host in an `AllHostsFailed`.
fn reasons(err: &Error) -> Vec<(HostAddr, String)> {
    match err {
        Error::AllHostsFailed(f) => f.0.clone(),
        other => panic!("expected AllHostsFailed, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_identity_works_where_plain_text_is_prohibited() {
    let certs = TestCerts::generate_temp().unwrap();
    let sb = Sandbox::start_with(
        2,
        SandboxOptions::default()
            .tls(&certs)
            .require_secure_transport(),
    )
    .await
    .unwrap();
    let ca = certs.ca.display().to_string();
    let (b, _) = balancer(&url(
        &[&sb],
        &format!("ssl_mode=verify_identity&ssl_ca={ca}"),
    ));
    let mut c = LoadBalancedConnection::connect_with(b.clone())
        .await
        .unwrap();
    assert!(!cipher(&mut c).await.is_empty(), "encrypted");
    // A pool's connections too, and a plain `mysql_async::Conn` from the balancer.
    let pool = LoadBalancedPool::with_balancer(b.clone());
    let mut pc = pool.get_conn().await.unwrap();
    assert!(!cipher(&mut pc).await.is_empty());
    drop(pc);
    let mut plain = b.connect().await.unwrap();
    let row: Option<(String, String)> = plain
        .query_first("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        .await
        .unwrap();
    assert!(!row.unwrap().1.is_empty());
    pool.disconnect().await;

    // Plain text is the server's "no" to everyone: the caller hears it at once, and no host
    // is blacklisted for what is the client's setting.
    let (b, blacklist) = balancer(&url(&[&sb], ""));
    let err = LoadBalancedConnection::connect_with(b).await.unwrap_err();
    let Error::Mysql(mysql_async::Error::Server(e)) = &err else {
        panic!("{err:?}")
    };
    // MySQL says 3159 (08004); MariaDB 10.11 says "access denied" (1045).
    assert!(e.code == 3159 || e.code == 1045, "{e}");
    assert!(blacklist.snapshot().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_never_falls_back_to_plain_text_and_preferred_does() {
    let sb = Sandbox::start(1).await.unwrap();
    let (b, blacklist) = balancer(&url(&[&sb], "ssl_mode=required"));
    let err = LoadBalancedConnection::connect_with(b).await.unwrap_err();
    let r = reasons(&err);
    assert!(
        r[0].1.contains("offers no TLS") && r[0].1.contains("ssl_mode=required"),
        "{err}"
    );
    assert!(
        r[0].1.contains(&sb.port(0).to_string()),
        "names the host: {err}"
    );
    assert_eq!(blacklist.snapshot().len(), 1, "that host's failure");

    let (b, _) = balancer(&url(&[&sb], "sslMode=PREFERRED"));
    let mut c = LoadBalancedConnection::connect_with(b).await.unwrap();
    assert_eq!(cipher(&mut c).await, "", "plain text, as preferred allows");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_and_preferred_encrypt_without_checking_the_certificate() {
    let certs = TestCerts::generate_temp().unwrap();
    let sb = Sandbox::start_with(1, SandboxOptions::default().tls(&certs))
        .await
        .unwrap();
    for mode in ["required", "preferred", "trust"] {
        let (b, _) = balancer(&url(&[&sb], &format!("ssl_mode={mode}")));
        let mut c = LoadBalancedConnection::connect_with(b).await.unwrap();
        assert!(!cipher(&mut c).await.is_empty(), "{mode}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_ca_is_refused_naming_the_host_and_the_ca() {
    let certs = TestCerts::generate_temp().unwrap();
    let sb = Sandbox::start_with(1, SandboxOptions::default().tls(&certs))
        .await
        .unwrap();
    let other = certs.other_ca.display().to_string();
    for mode in ["verify_ca", "verify_identity", "required"] {
        let (b, blacklist) = balancer(&url(&[&sb], &format!("ssl_mode={mode}&ssl_ca={other}")));
        let err = LoadBalancedConnection::connect_with(b).await.unwrap_err();
        let r = reasons(&err);
        assert_eq!(r[0].0.port(), sb.port(0));
        assert!(
            r[0].1.contains("not signed by a CA in ssl_ca") && r[0].1.contains(&other),
            "{mode}: {err}"
        );
        assert!(
            err.to_string()
                .contains(&format!("127.0.0.1:{}", sb.port(0)))
        );
        assert_eq!(blacklist.snapshot().len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_name_fails_verify_identity_only() {
    let certs = TestCerts::generate_temp().unwrap();
    let sb = wrong_name_server(&certs).await;
    let ca = certs.ca.display().to_string();
    let (b, _) = balancer(&url(
        &[&sb],
        &format!("ssl_mode=verify_identity&ssl_ca={ca}"),
    ));
    let err = LoadBalancedConnection::connect_with(b).await.unwrap_err();
    let r = reasons(&err);
    assert!(r[0].1.contains("not for the name `127.0.0.1`"), "{err}");

    let (b, _) = balancer(&url(&[&sb], &format!("ssl_mode=verify_ca&ssl_ca={ca}")));
    let r = LoadBalancedConnection::connect_with(b).await;
    if cfg!(feature = "rustls") {
        // mysql_async 0.37 with rustls 0.23 checks the name even when told not to (its issue
        // #404): the error says so and points to ssl_server_name.
        let err = r.unwrap_err();
        assert!(err.to_string().contains("ssl_server_name"), "{err}");
        assert!(err.to_string().contains("#404"), "{err}");
    } else {
        r.unwrap();
    }
    let (b, _) = balancer(&url(
        &[&sb],
        &format!("ssl_mode=verify_identity&ssl_ca={ca}&ssl_server_name={WRONG_NAME}"),
    ));
    let mut c = LoadBalancedConnection::connect_with(b).await.unwrap();
    assert!(!cipher(&mut c).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_with_a_bad_certificate_is_skipped_for_the_good_ones() {
    let certs = TestCerts::generate_temp().unwrap();
    let bad = wrong_name_server(&certs).await;
    let good = Sandbox::start_with(1, SandboxOptions::default().tls(&certs))
        .await
        .unwrap();
    let ca = certs.ca.display().to_string();
    let (b, blacklist) = balancer(&url(
        &[&bad, &good],
        &format!("strategy=sequential&ssl_mode=verify_identity&ssl_ca={ca}"),
    ));
    let mut c = LoadBalancedConnection::connect_with(b).await.unwrap();
    assert_eq!(c.current_host().unwrap().port(), good.port(0));
    let entries = blacklist.snapshot();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].addr.port(), bad.port(0));
    assert!(entries[0].reason.contains("TLS"), "{}", entries[0].reason);
    assert!(!cipher(&mut c).await.is_empty());
}

#[cfg(feature = "rustls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_log_in_a_require_x509_account_also_from_a_hook() {
    let certs = TestCerts::generate_temp().unwrap();
    let sb = Sandbox::start_with(1, SandboxOptions::default().tls(&certs))
        .await
        .unwrap();
    sb.exec(
        0,
        "CREATE USER x509@'127.0.0.1' IDENTIFIED BY 'x-pw' REQUIRE X509",
    )
    .await
    .unwrap();
    sb.exec(0, "GRANT SELECT ON *.* TO x509@'127.0.0.1'")
        .await
        .unwrap();
    let (ca, cert, key) = (
        certs.ca.display().to_string(),
        certs.client_cert.display().to_string(),
        certs.client_key.display().to_string(),
    );
    let base = format!(
        "mysql://x509:x-pw@127.0.0.1:{}/?ssl_mode=verify_identity&ssl_ca={ca}",
        sb.port(0)
    );
    let (b, _) = balancer(&format!("{base}&ssl_cert={cert}&ssl_key={key}"));
    let mut c = LoadBalancedConnection::connect_with(b).await.unwrap();
    let who: Option<String> = c.query_first("SELECT CURRENT_USER()").await.unwrap();
    assert_eq!(who.as_deref(), Some("x509@127.0.0.1"));

    // Without the certificate: refused as a login (1045), which is no host's failure.
    let (b, blacklist) = balancer(&base);
    let err = LoadBalancedConnection::connect_with(b).await.unwrap_err();
    assert!(
        matches!(&err, Error::Mysql(mysql_async::Error::Server(e)) if e.code == 1045),
        "{err:?}"
    );
    assert!(blacklist.snapshot().is_empty());

    // The same certificate handed over by a connect hook (a rotated certificate).
    let mut opts: LbOpts = base.parse().unwrap();
    let mut builder = LbOpts::builder();
    builder
        .host("127.0.0.1", sb.port(0))
        .user("x509")
        .password("x-pw")
        .ssl_mode(opts.tls().mode())
        .ssl_ca(certs.ca.clone())
        .before_connect(move |mut p| {
            let (cert, key) = (cert.clone(), key.clone());
            async move {
                p.tls_mut().set_client_cert(cert, key);
                Ok(p)
            }
        });
    opts = builder.build().unwrap();
    let mut c = LoadBalancedConnection::connect(opts).await.unwrap();
    let who: Option<String> = c.query_first("SELECT CURRENT_USER()").await.unwrap();
    assert_eq!(who.as_deref(), Some("x509@127.0.0.1"));
}

#[test]
fn tls_options_are_checked_when_built() {
    let bad = [
        ("mysql://h1/?ssl_ca=/etc/hostname", "ssl_mode=disabled"),
        (
            "mysql://h1/?ssl_mode=verify_ca&ssl_ca=/nonexistent.pem",
            "cannot read ssl_ca",
        ),
        ("mysql://h1/?ssl_mode=strict", "verify_identity"),
        (
            "mysql://h1/?ssl_mode=required&ssl_cert=/etc/hostname",
            "ssl_key",
        ),
        (
            "mysql://h1/?trustCertificateKeyStoreUrl=file:/x.jks",
            "keytool",
        ),
        (
            "mysql://h1/?verify_identity=true",
            "ssl_mode=verify_identity",
        ),
    ];
    for (url, says) in bad {
        let err = url.parse::<LbOpts>().unwrap_err();
        assert!(err.to_string().contains(says), "{url}: {err}");
    }
    let ok: LbOpts =
        "jdbc:mysql:loadbalance://h1,h2/db?sslMode=VERIFY_IDENTITY&serverSslCert=/etc/hostname"
            .parse()
            .unwrap();
    assert_eq!(ok.tls().mode(), mysql_lb::SslMode::VerifyIdentity);
    assert!(!format!("{ok:?}").is_empty());
}
