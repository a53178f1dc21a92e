//! `mysql-lb parse URL`: JSON on stdout and exit 0, or the error on stderr and exit 2.

use std::process::{Command, Output};

use serde_json::{Value, json};

fn parse(url: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mysql-lb"))
        .args(["parse", url])
        .output()
        .expect("running mysql-lb")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn good_url_prints_json_without_the_password() {
    let url = "mysql://app:Cl1%40Secret@H1:3306,h2:3307,[::1]:3308/shop\
               ?strategy=roundRobin&blacklist_timeout=5s&connectTimeout=250";
    let out = parse(url);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert!(stderr.is_empty(), "stderr: {stderr}");
    let json: Value = serde_json::from_str(&stdout).expect("stdout is JSON");
    assert_eq!(
        json["hosts"],
        json!([
            {"host": "h1", "port": 3306, "role": "any"},
            {"host": "h2", "port": 3307, "role": "any"},
            {"host": "::1", "port": 3308, "role": "any"},
        ])
    );
    assert_eq!(json["user"], "app");
    assert_eq!(json["database"], "shop");
    assert_eq!(json["strategy"], "roundRobin");
    assert_eq!(json["blacklist_timeout_ms"], 5000);
    assert_eq!(json["connect_timeout_ms"], 250);
    assert_eq!(json["password"], "***");
    for secret in ["Cl1@Secret", "Cl1%40Secret", "Secret"] {
        assert!(!stdout.contains(secret), "{secret} in {stdout}");
    }
}

#[test]
fn replication_url_prints_roles() {
    let out = parse("jdbc:mysql:replication://src,r1:3307/db?user=app&password=Cli0Secret");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: Value = serde_json::from_str(&text(&out.stdout)).expect("stdout is JSON");
    assert_eq!(
        json["hosts"],
        json!([
            {"host": "src", "port": 3306, "role": "source"},
            {"host": "r1", "port": 3307, "role": "replica"},
        ])
    );
    assert_eq!(json["database"], "db");
    assert_eq!(json["user"], "app");
    assert!(!text(&out.stdout).contains("Cli0Secret"));
}

#[test]
fn bad_urls_exit_2_naming_the_part() {
    // (URL, what stderr must name, the password that must not show)
    let cases = [
        ("mysql://app:Cli2Secret@h1:0/db", "h1:0", "Cli2Secret"),
        ("mysql://app:Cli3Secret@h1,H1/db", "h1:3306", "Cli3Secret"),
        (
            "mysql://h1/db?password=Cli4Secret&stratgey=random",
            "did you mean `strategy`",
            "Cli4Secret",
        ),
        (
            "mysql://app:Cli5Secret@h1/db?prefer_socket=true",
            "prefer_socket=true",
            "Cli5Secret",
        ),
        (
            "mysql://[::1/db?password=Cli6Secret",
            "`[::1/db`",
            "Cli6Secret",
        ),
        ("mysql://app:Cli7?Secret@h1/db", "user:password@", "Cli7"),
        (
            "postgres://app:Cli8Secret@h1/db",
            "`postgres`",
            "Cli8Secret",
        ),
        (
            "mysql://app:Cli9Secret@h1/db?blacklist_timeout=5000",
            "blacklist_timeout=5000",
            "Cli9Secret",
        ),
        ("mysql://app:CliASecret@/db", "no host", "CliASecret"),
    ];
    for (url, part, secret) in cases {
        let out = parse(url);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(2), "{url}: stderr {stderr}");
        assert!(stdout.is_empty(), "{url}: stdout {stdout}");
        assert!(
            stderr.contains(part),
            "{url}: stderr {stderr:?} lacks {part:?}"
        );
        assert!(
            !stderr.contains(secret),
            "{url}: stderr {stderr:?} shows {secret}"
        );
    }
}

#[test]
fn missing_url_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_mysql-lb"))
        .arg("parse")
        .output()
        .expect("running mysql-lb");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}
