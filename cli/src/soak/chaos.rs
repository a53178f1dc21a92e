//! The soak's faults: one at a time, on a random server, every 0.5-2 s, each undone before
//! the next starts, so at least one server always serves (with 2 or more) and every failure
//! the load meets has one cause.
//!
//! The kinds cover the ways a connection dies or hangs: the server process killed (and
//! restarted) or stopped (and continued), the server ending sessions (`KILL CONNECTION`) or
//! refusing new ones (`max_connections`), and the network resetting or swallowing traffic
//! (the proxy's `Reset` and `Blackhole`). Admin work goes straight to the server as the
//! sandbox's SUPER user, never through the proxy.

use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_lb_sandbox::{APP_USER, FaultProxy, ProxyMode, Sandbox};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;

/// The kinds, as reported.
pub(super) const KINDS: [&str; 6] = [
    "kill",
    "pause",
    "kill-connection",
    "max-connections",
    "proxy-reset",
    "proxy-blackhole",
];
/// `mariadbd` raises a lower `max_connections` to this.
const MIN_MAX_CONNECTIONS: u64 = 10;
/// Bound on each admin step (connect, statement).
const ADMIN_BOUND: Duration = Duration::from_secs(5);
/// Which connections are the load's.
const APP_IDS_SQL: &str = "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ";

/// One fault as it happened.
#[derive(Clone, Debug, Serialize)]
pub(super) struct Record {
    /// When it started, since the load started.
    pub(super) at_ms: u64,
    pub(super) kind: &'static str,
    pub(super) server: usize,
    /// From the start of the fault until it was undone (a restart: until the server was ready).
    pub(super) held_ms: u64,
    /// What was done, and any error doing or undoing it.
    pub(super) detail: String,
}

impl Record {
    fn line(&self) -> String {
        format!(
            "{:>8.3}s  server {}  {:<15}  {:>5} ms  {}",
            self.at_ms as f64 / 1000.0,
            self.server,
            self.kind,
            self.held_ms,
            self.detail
        )
    }
}

/// The fault schedule's state.
pub(super) struct Chaos {
    sb: Arc<Sandbox>,
    proxies: Arc<Vec<FaultProxy>>,
    rng: SmallRng,
    start: Instant,
    stop: watch::Receiver<bool>,
}

impl Chaos {
    pub(super) fn new(
        sb: Arc<Sandbox>,
        proxies: Arc<Vec<FaultProxy>>,
        seed: u64,
        start: Instant,
        stop: watch::Receiver<bool>,
    ) -> Chaos {
        Chaos {
            sb,
            proxies,
            // Not the seed of any load task (those add 1 + their id).
            rng: SmallRng::seed_from_u64(seed ^ 0x5eed_fa17),
            start,
            stop,
        }
    }

    /// Faults until told to stop; the fault under way then is cut short and undone. Each is
    /// printed on stderr as it ends.
    pub(super) async fn run(mut self) -> Vec<Record> {
        let mut log = Vec::new();
        loop {
            let gap = self.ms(500..=2000);
            if self.sleep_or_stop(gap).await {
                return log;
            }
            let server = self.rng.random_range(0..self.sb.len());
            let kind = KINDS[self.rng.random_range(0..KINDS.len())];
            let at = self.start.elapsed();
            let detail = self.fault(kind, server).await;
            let record = Record {
                at_ms: at.as_millis() as u64,
                kind,
                server,
                held_ms: (self.start.elapsed() - at).as_millis() as u64,
                detail,
            };
            eprintln!("{}", record.line());
            log.push(record);
        }
    }

    /// Does one fault, holds it, undoes it; returns what was done.
    async fn fault(&mut self, kind: &'static str, i: usize) -> String {
        match kind {
            "kill" => {
                self.sb.kill(i);
                let hold = self.ms(1000..=3000);
                self.sleep_or_stop(hold).await;
                match self.sb.restart(i).await {
                    Ok(()) => "SIGKILL, restarted".to_owned(),
                    Err(e) => format!("SIGKILL, restart failed: {e}"),
                }
            }
            "pause" => {
                let sb = self.sb.clone();
                // Waits (up to a second) until every server thread is stopped.
                let _ = tokio::task::spawn_blocking(move || sb.pause(i)).await;
                let hold = self.ms(500..=3000);
                self.sleep_or_stop(hold).await;
                self.sb.resume(i);
                "SIGSTOP, SIGCONT".to_owned()
            }
            "kill-connection" => self.kill_connections(i).await,
            "max-connections" => self.squeeze(i).await,
            "proxy-reset" => {
                self.proxies[i].set_mode(ProxyMode::Reset);
                tokio::time::sleep(Duration::from_millis(100)).await;
                self.proxies[i].set_mode(ProxyMode::Pass);
                "Reset, Pass".to_owned()
            }
            _ => {
                self.proxies[i].set_mode(ProxyMode::Blackhole);
                let hold = self.ms(500..=2000);
                self.sleep_or_stop(hold).await;
                self.proxies[i].set_mode(ProxyMode::Pass);
                "Blackhole, Pass".to_owned()
            }
        }
    }

    /// `KILL CONNECTION` of 1-3 random app connections of server `i`.
    async fn kill_connections(&mut self, i: usize) -> String {
        let mut ids = match app_ids(&self.sb, i).await {
            Ok(ids) => ids,
            Err(e) => return format!("listing connections failed: {e}"),
        };
        let wanted = self.rng.random_range(1..=3).min(ids.len());
        let mut killed = Vec::new();
        for _ in 0..wanted {
            let id = ids.swap_remove(self.rng.random_range(0..ids.len()));
            // One that ended meanwhile gets "unknown thread id": nothing to do.
            if self
                .sb
                .exec(i, &format!("KILL CONNECTION {id}"))
                .await
                .is_ok()
            {
                killed.push(id.to_string());
            }
        }
        format!(
            "killed {} of {} app connections [{}]",
            killed.len(),
            killed.len() + ids.len(),
            killed.join(",")
        )
    }

    /// Lowers `max_connections` of server `i` to its current app connections for 1-2 s.
    ///
    /// `mariadbd` raises any value under 10 to 10, so with fewer app connections than that
    /// the gap is filled with idle admin connections: then a new app connection really is
    /// one too many. The admin user has SUPER, which may always take one connection more,
    /// so the session that restores the limit gets in.
    async fn squeeze(&mut self, i: usize) -> String {
        let mut control = match admin(&self.sb, i).await {
            Ok(c) => c,
            Err(e) => return format!("admin connect failed: {e}"),
        };
        let read = async {
            let max: Option<u64> = control
                .query_first("SELECT @@global.max_connections")
                .await?;
            let apps: Option<u64> = control
                .query_first(format!(
                    "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '{APP_USER}'"
                ))
                .await?;
            Ok::<_, mysql_async::Error>((max.unwrap_or(151), apps.unwrap_or(0)))
        };
        let (old, apps) = match tokio::time::timeout(ADMIN_BOUND, read).await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => return format!("reading the limits failed: {e}"),
            Err(_) => return "reading the limits timed out".to_owned(),
        };
        // Counting the control session itself.
        let low = (apps + 1).max(MIN_MAX_CONNECTIONS);
        let mut fillers = Vec::new();
        for _ in apps + 1..low {
            match admin(&self.sb, i).await {
                Ok(c) => fillers.push(c),
                Err(_) => break,
            }
        }
        let set = format!("SET GLOBAL max_connections = {low}");
        let mut detail = match bounded(control.query_drop(set)).await {
            Ok(()) => format!(
                "max_connections {old} -> {low} ({apps} app + {} admin connections)",
                fillers.len() + 1
            ),
            Err(e) => format!("lowering max_connections failed: {e}"),
        };
        let hold = self.ms(1000..=2000);
        self.sleep_or_stop(hold).await;
        let restore = format!("SET GLOBAL max_connections = {old}");
        if let Err(e) = bounded(control.query_drop(&restore)).await {
            // `heal` sets it again at the end in any case.
            detail += &format!("; restoring failed: {e}");
        }
        for c in fillers.into_iter().chain([control]) {
            let _ = tokio::time::timeout(ADMIN_BOUND, c.disconnect()).await;
        }
        detail
    }

    /// A random duration in milliseconds.
    fn ms(&mut self, range: std::ops::RangeInclusive<u64>) -> Duration {
        Duration::from_millis(self.rng.random_range(range))
    }

    /// Sleeps for `d` or until told to stop; true if told to stop.
    async fn sleep_or_stop(&mut self, d: Duration) -> bool {
        let stopped = tokio::select! {
            _ = tokio::time::sleep(d) => false,
            _ = self.stop.wait_for(|stop| *stop) => true,
        };
        stopped || *self.stop.borrow()
    }
}

/// Ids of server `i`'s app connections.
async fn app_ids(sb: &Sandbox, i: usize) -> Result<Vec<u64>, String> {
    let rows = sb
        .sql(i, &format!("{APP_IDS_SQL}'{APP_USER}'"))
        .await
        .map_err(|e| e.to_string())?;
    Ok(rows.iter().filter_map(|r| r.get::<u64, _>(0)).collect())
}

/// A direct admin connection to server `i`, bounded.
async fn admin(sb: &Sandbox, i: usize) -> Result<mysql_async::Conn, String> {
    bounded(mysql_async::Conn::new(sb.opts(i))).await
}

async fn bounded<T>(fut: impl Future<Output = mysql_async::Result<T>>) -> Result<T, String> {
    match tokio::time::timeout(ADMIN_BOUND, fut).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err(format!("no answer within {ADMIN_BOUND:?}")),
    }
}

/// Leaves every server as it started: proxies passing, processes continued, dead servers
/// restarted, `max_connections` back to `max` (one per server). Errors are printed; the
/// check of the data reports a server it cannot read.
pub(super) async fn heal(sb: &Sandbox, proxies: &[FaultProxy], max: &[u64]) {
    for p in proxies {
        p.set_mode(ProxyMode::Pass);
    }
    for (i, max) in max.iter().enumerate() {
        sb.resume(i);
        if !sb.is_running(i)
            && let Err(e) = sb.restart(i).await
        {
            eprintln!("soak: restarting server {i} at the end failed: {e}");
        }
        let sql = format!("SET GLOBAL max_connections = {max}");
        if let Err(e) = sb.exec(i, &sql).await {
            eprintln!("soak: restoring max_connections of server {i} failed: {e}");
        }
    }
}
