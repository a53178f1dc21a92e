//! `mysql-lb query` and `status` over TLS: servers that refuse plain text
//! (`require_secure_transport=ON`), reached with `ssl_mode=verify_identity` and a CA file.

use std::process::{Command, Output};

use mysql_lb_sandbox::{PASSWORD, Sandbox, SandboxOptions, TestCerts, USER};

fn start(certs: &TestCerts) -> Sandbox {
    let opts = SandboxOptions::default()
        .tls(certs)
        .require_secure_transport();
    // Its own runtime on its own thread: the tests are plain #[test] functions.
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(Sandbox::start_with(2, opts))
                .expect("sandbox starts")
        })
        .join()
        .expect("sandbox thread")
    })
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mysql-lb"))
        .args(args)
        .output()
        .expect("running mysql-lb")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn query_and_status_work_over_verified_tls() {
    let certs = TestCerts::generate_temp().expect("certificates");
    let sb = start(&certs);
    let url = format!(
        "mysql://{USER}:{PASSWORD}@127.0.0.1:{},127.0.0.1:{}/?ssl_mode=verify_identity&ssl_ca={}",
        sb.port(0),
        sb.port(1),
        certs.ca.display()
    );
    let out = run(&["query", &url, "SHOW SESSION STATUS LIKE 'Ssl_cipher'"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("Ssl_cipher") && stdout.contains("TLS_"),
        "{stdout}"
    );

    let out = run(&["status", &url, "--json"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let hosts = json["hosts"].as_array().expect("hosts");
    assert_eq!(hosts.len(), 2);
    assert!(hosts.iter().all(|h| h["reachable"] == true), "{stdout}");

    // Without TLS the servers refuse, and the command says so with exit code 1.
    let plain = url.split('?').next().unwrap().to_owned();
    let out = run(&["query", &plain, "SELECT 1"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
}
