//! Production connectivity against real servers: the connect hook (a password rotated on
//! the servers mid-run), `reject_read_only` (a writer demoted under a handle and a pool), and
//! role detection (`innodb_read_only`, as an Aurora reader shows, and a custom `role_query`).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{BOUND, addr, create_app_user, on_all, url_for};
use mysql_async::prelude::Queryable;
use mysql_lb::{
    Balancer, Blacklist, DataOutcome, Error, LbOpts, LoadBalancedConnection, LoadBalancedPool,
    ReplicationPool,
};
use mysql_lb_sandbox::{PASSWORD, Sandbox, SandboxOptions, USER};

/// Options for user `rot` over the sandbox, its password coming from `secret` through a
/// connect hook that counts its calls in `calls`.
fn rotating(sb: &Sandbox, secret: Arc<Mutex<String>>, calls: Arc<AtomicUsize>) -> LbOpts {
    let mut b = LbOpts::builder();
    for i in 0..sb.len() {
        b.host("127.0.0.1", sb.port(i));
    }
    // MariaDB has no dual passwords (MySQL 8's RETAIN CURRENT PASSWORD): between ALTER USER
    // and the hook's switch, a new connection would be refused. The test opens none then:
    // without hedges (which check out spare connections) four tasks keep four connections.
    b.user("rot")
        .connect_timeout(Duration::from_secs(2))
        .hedge(false)
        .before_connect(move |mut p| {
            calls.fetch_add(1, Ordering::Relaxed);
            let password = secret.lock().unwrap().clone();
            async move {
                p.set_password(password);
                Ok(p)
            }
        });
    b.build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_rotated_mid_run_is_used_by_new_connections_and_nothing_fails() {
    let sb = Sandbox::start(2).await.unwrap();
    on_all(&sb, "CREATE USER rot@'%' IDENTIFIED BY 'first-pw'").await;
    on_all(&sb, "GRANT SELECT ON *.* TO rot@'%'").await;
    let secret = Arc::new(Mutex::new("first-pw".to_owned()));
    let calls = Arc::new(AtomicUsize::new(0));
    let opts = rotating(&sb, secret.clone(), calls.clone());
    let pool = LoadBalancedPool::with_balancer(Balancer::with_blacklist(
        opts.clone(),
        Arc::new(Blacklist::new()),
    ));

    // A steady load on pooled connections, through the rotation and after it.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let pool = pool.clone();
        let stop = stop.clone();
        load.spawn(async move {
            let (mut ok, mut failed) = (0u32, Vec::new());
            for _ in 0..20_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let r = async {
                    let mut c = pool.get_conn().await.map_err(|e| e.to_string())?;
                    c.query_drop("SELECT 1").await.map_err(|e| e.to_string())
                }
                .await;
                match r {
                    Ok(()) => ok += 1,
                    Err(e) => failed.push(e),
                }
            }
            (ok, failed)
        });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = calls.load(Ordering::Relaxed);
    assert!(before >= 1, "the hook ran for the pool's connections");

    // Rotate: the servers first, then what the hook hands out. MariaDB keeps logged-in
    // sessions across ALTER USER, so the pool's open connections go on working.
    on_all(&sb, "ALTER USER rot@'%' IDENTIFIED BY 'second-pw'").await;
    *secret.lock().unwrap() = "second-pw".to_owned();
    // Every open connection of `rot` is killed: new ones must log in with the new password.
    for i in 0..sb.len() {
        let ids = sb
            .sql(
                i,
                "SELECT id FROM information_schema.processlist WHERE user = 'rot'",
            )
            .await
            .unwrap();
        for row in ids {
            let id: u64 = mysql_async::from_row(row);
            let _ = sb.exec(i, &format!("KILL CONNECTION {id}")).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    while let Some(r) = load.join_next().await {
        let (ok, failed) = r.unwrap();
        total += ok;
        // A statement on a killed idle connection is retried (a read); a checkout pings
        // first. Nothing reaches the caller.
        assert!(failed.is_empty(), "statements failed: {failed:?}");
    }
    assert!(total > 100, "the load ran ({total} statements)");
    assert!(
        calls.load(Ordering::Relaxed) > before,
        "new connections ran the hook again"
    );

    // A new handle logs in with the new password; the old one is refused by the servers.
    let mut c = LoadBalancedConnection::connect(opts).await.unwrap();
    let who: Option<String> = c.query_first("SELECT CURRENT_USER()").await.unwrap();
    assert_eq!(who.as_deref(), Some("rot@%"));
    pool.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_or_slow_hook_is_the_callers_error_and_no_host_is_blacklisted() {
    let sb = Sandbox::start(2).await.unwrap();
    for slow in [false, true] {
        let mut b = LbOpts::builder();
        b.host("127.0.0.1", sb.port(0))
            .host("127.0.0.1", sb.port(1))
            .user(USER)
            .connect_timeout(Duration::from_millis(300))
            .before_connect(move |p| async move {
                if slow {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    return Ok(p);
                }
                Err("the token service said no".into())
            });
        let blacklist = Arc::new(Blacklist::new());
        let balancer = Balancer::with_blacklist(b.build().unwrap(), blacklist.clone());
        let t = std::time::Instant::now();
        let err = LoadBalancedConnection::connect_with(balancer)
            .await
            .unwrap_err();
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "bounded: {:?}",
            t.elapsed()
        );
        let Error::ConnectHook { host, source } = &err else {
            panic!("{err:?}")
        };
        assert!(host.port() == sb.port(0) || host.port() == sb.port(1));
        let text = source.to_string();
        assert!(
            text.contains(if slow { "connect_timeout" } else { "said no" }),
            "{text}"
        );
        assert!(
            blacklist.snapshot().is_empty(),
            "the hook's failure is not the host's"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hook_sets_init_statements_and_they_survive_a_pool_reset() {
    let sb = Sandbox::start(1).await.unwrap();
    let mut b = LbOpts::builder();
    b.host("127.0.0.1", sb.port(0))
        .user(USER)
        .password(PASSWORD)
        .before_connect(|mut p| async move {
            p.push_init("SET time_zone = '+05:30'");
            Ok(p)
        });
    let pool = LoadBalancedPool::new(b.build().unwrap());
    for _ in 0..3 {
        let mut c = pool.get_conn().await.unwrap();
        let tz: Option<String> = c.query_first("SELECT @@session.time_zone").await.unwrap();
        assert_eq!(tz.as_deref(), Some("+05:30"));
        // A session change makes the pool reset the connection on return.
        c.query_drop("SET @x = 1").await.unwrap();
    }
    pool.disconnect().await;
}

/// Two servers, a `t` table on each, and user `app` (no SUPER: `read_only` holds for it).
async fn two_writers() -> Sandbox {
    let sb = Sandbox::start(2).await.unwrap();
    create_app_user(&sb, "SELECT, INSERT ON *.*").await;
    on_all(&sb, "CREATE DATABASE IF NOT EXISTS test").await;
    on_all(
        &sb,
        "CREATE TABLE test.t (id INT AUTO_INCREMENT PRIMARY KEY, v INT)",
    )
    .await;
    sb
}

/// Runs an insert that must fail with server error `code`.
async fn insert_refused(c: &mut LoadBalancedConnection, code: u16) {
    let err = c
        .query_drop("INSERT INTO test.t (v) VALUES (0)")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, mysql_async::Error::Server(s) if s.code == code),
        "expected {code}: {err}"
    );
}

async fn rows(sb: &Sandbox, i: usize) -> u64 {
    let r = sb.sql(i, "SELECT COUNT(*) FROM test.t").await.unwrap();
    mysql_async::from_row(r.into_iter().next().unwrap())
}

fn app_url(sb: &Sandbox, extra: &str) -> LbOpts {
    url_for(
        &[sb.port(0), sb.port(1)],
        &format!("strategy=sequential{extra}"),
    )
    .replacen(&format!("{USER}:{PASSWORD}"), "app:app-pw", 1)
    .parse()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_read_only_moves_writes_off_a_demoted_writer() {
    let sb = two_writers().await;
    let blacklist = Arc::new(Blacklist::new());
    let balancer =
        Balancer::with_blacklist(app_url(&sb, "&reject_read_only=true"), blacklist.clone());
    let mut c = LoadBalancedConnection::connect_with(balancer)
        .await
        .unwrap();
    c.query_drop("INSERT INTO test.t (v) VALUES (1)")
        .await
        .unwrap();
    assert_eq!(c.current_host(), Some(&addr(&sb, 0)));

    sb.exec(0, "SET GLOBAL read_only = 1").await.unwrap();
    let err = c
        .query_drop("INSERT INTO test.t (v) VALUES (2)")
        .await
        .unwrap_err();
    match Error::from_mysql(&err) {
        Some(Error::WriteNotRetried { host, .. }) => assert_eq!(host, &addr(&sb, 0)),
        other => panic!("{other:?} / {err}"),
    }
    assert_eq!(
        Error::outcome(&err),
        DataOutcome::NotApplied,
        "the server refused it"
    );
    assert!(blacklist.contains(&addr(&sb, 0)), "skipped for writes now");

    // The next write goes to the writable host, and nothing was written twice.
    c.query_drop("INSERT INTO test.t (v) VALUES (3)")
        .await
        .unwrap();
    assert_eq!(c.current_host(), Some(&addr(&sb, 1)));
    assert_eq!((rows(&sb, 0).await, rows(&sb, 1).await), (1, 1));

    // A read-only transaction the caller asked for refuses writes by itself (1792): not
    // the host's fault.
    c.set_read_only(true).await.unwrap();
    insert_refused(&mut c, 1792).await;
    assert!(!blacklist.contains(&addr(&sb, 1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_reject_read_only_a_demoted_writer_keeps_getting_writes() {
    let sb = two_writers().await;
    let balancer = Balancer::with_blacklist(app_url(&sb, ""), Arc::new(Blacklist::new()));
    let mut c = LoadBalancedConnection::connect_with(balancer)
        .await
        .unwrap();
    c.query_drop("INSERT INTO test.t (v) VALUES (1)")
        .await
        .unwrap();
    sb.exec(0, "SET GLOBAL read_only = 1").await.unwrap();
    for _ in 0..3 {
        insert_refused(&mut c, 1290).await;
    }
    assert_eq!(
        c.current_host(),
        Some(&addr(&sb, 0)),
        "the trap the option is for"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_with_reject_read_only_checks_out_a_writable_host_next() {
    let sb = two_writers().await;
    let pool = LoadBalancedPool::with_balancer(Balancer::with_blacklist(
        app_url(&sb, "&reject_read_only=true"),
        Arc::new(Blacklist::new()),
    ));
    let c = pool.get_conn().await.unwrap();
    assert_eq!(c.current_host(), Some(&addr(&sb, 0)));
    drop(c);
    sb.exec(0, "SET GLOBAL read_only = 1").await.unwrap();
    let mut c = pool.get_conn().await.unwrap();
    let err = c
        .query_drop("INSERT INTO test.t (v) VALUES (1)")
        .await
        .unwrap_err();
    assert!(
        matches!(Error::from_mysql(&err), Some(Error::WriteNotRetried { .. })),
        "{err}"
    );
    drop(c);
    let mut c = pool.get_conn().await.unwrap();
    c.query_drop("INSERT INTO test.t (v) VALUES (2)")
        .await
        .unwrap();
    assert_eq!(c.current_host(), Some(&addr(&sb, 1)));
    drop(c);
    assert_eq!((rows(&sb, 0).await, rows(&sb, 1).await), (0, 1));
    pool.disconnect().await;
}

/// Where a replication pool's writer sends a write.
async fn writer_port(pool: &ReplicationPool) -> u16 {
    let mut c = pool.writer().get_conn().await.unwrap();
    let port: Option<u16> = c.query_first("SELECT @@port").await.unwrap();
    port.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_with_innodb_read_only_is_a_reader_whatever_the_url_says() {
    // An Aurora reader: `read_only` is 0, `innodb_read_only` is 1.
    let writable = Sandbox::start(1).await.unwrap();
    let reader = Sandbox::start_with(1, SandboxOptions::default().arg("--innodb-read-only=1"))
        .await
        .unwrap();
    let ro: Vec<mysql_async::Row> = reader
        .sql(0, "SELECT @@global.read_only, @@global.innodb_read_only")
        .await
        .unwrap();
    let (read_only, innodb_ro): (u8, u8) = mysql_async::from_row(ro[0].clone());
    assert_eq!((read_only, innodb_ro), (0, 1));
    // The URL has them the wrong way round, as after a failover.
    let url = format!(
        "mysql:replication://{USER}:{PASSWORD}@address=(host=127.0.0.1)(port={})(type=source),\
         address=(host=127.0.0.1)(port={})(type=replica)/?health_check_interval=200ms",
        reader.port(0),
        writable.port(0)
    );
    let pool = ReplicationPool::new(url.parse().unwrap()).await.unwrap();
    pool.check_now().await;
    assert_eq!(writer_port(&pool).await, writable.port(0));
    pool.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_role_query_decides_the_roles() {
    let sb = Sandbox::start(2).await.unwrap();
    // Both are writable; the query calls the first one read-only.
    let url = format!(
        "mysql:replication://{USER}:{PASSWORD}@127.0.0.1:{},127.0.0.1:{}/\
         ?role_query=SELECT%20@@port%20=%20{}",
        sb.port(0),
        sb.port(1),
        sb.port(0)
    );
    let opts: LbOpts = url.parse().unwrap();
    assert_eq!(opts.role_query(), format!("SELECT @@port = {}", sb.port(0)));
    let pool = ReplicationPool::new(opts).await.unwrap();
    let t = std::time::Instant::now();
    loop {
        pool.check_now().await;
        if writer_port(&pool).await == sb.port(1) {
            break;
        }
        assert!(t.elapsed() < BOUND, "the writer never moved");
    }
    pool.disconnect().await;
}

/// Kills every connection of `user` on every server of `sb`.
async fn kill_sessions_of(sb: &Sandbox, user: &str) {
    for i in 0..sb.len() {
        let ids = sb
            .sql(
                i,
                &format!("SELECT id FROM information_schema.processlist WHERE user = '{user}'"),
            )
            .await
            .unwrap();
        for row in ids {
            let id: u64 = mysql_async::from_row(row);
            let _ = sb.exec(i, &format!("KILL CONNECTION {id}")).await;
        }
    }
}

#[tokio::test]
async fn a_read_retried_after_a_killed_connection_does_not_land_on_another_killed_one() {
    let sb = Sandbox::start(2).await.unwrap();
    create_app_user(&sb, "SELECT ON *.*").await;
    let ports = [sb.port(0), sb.port(1)];
    let url = url_for(&ports, "strategy=roundRobin&hedge=false")
        .replace(&format!("{USER}:{PASSWORD}"), "app:app-pw");
    let pool = LoadBalancedPool::with_balancer(Balancer::with_blacklist(
        url.parse().unwrap(),
        Arc::new(Blacklist::new()),
    ));
    for round in 0..10 {
        // An idle pooled connection on each host, used just now (no ping at checkout).
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut c = pool.get_conn().await.unwrap();
            c.query_drop("SELECT 1").await.unwrap();
            held.push(c);
        }
        drop(held);
        kill_sessions_of(&sb, "app").await;
        // Both are dead: the read meets one, and its retry must not fail on the other.
        let mut c = pool.get_conn().await.unwrap();
        let r: Option<u8> = c
            .query_first("SELECT 1")
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(r, Some(1));
    }
    pool.disconnect().await;
}
