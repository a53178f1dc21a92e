//! The library's metrics in Prometheus's text format: install a recorder, run statements
//! through a pool, print what a scrape would get.
//!
//! ```sh
//! cargo run --features metrics --example prometheus -- 'mysql://user:pass@db1,db2/app'
//! MYSQL_LB_URL='mysql://...' cargo run --features metrics --example prometheus
//! ```
//!
//! The recorder must be installed before the first statement: each host's handles are
//! registered at its first statement, and handles registered with no recorder stay no-ops.
//!
//! To serve `/metrics` instead of printing, enable the exporter's `http-listener` feature
//! and replace `install_recorder()` with
//! `PrometheusBuilder::new().with_http_listener(([0, 0, 0, 0], 9000)).install()?` (inside
//! the Tokio runtime); Prometheus then scrapes port 9000.

use metrics_exporter_prometheus::PrometheusBuilder;
use mysql_async::prelude::Queryable;
use mysql_lb::{LbOpts, LoadBalancedPool};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(url) = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("MYSQL_LB_URL").ok())
    else {
        eprintln!("usage: prometheus URL   (or set MYSQL_LB_URL)");
        std::process::exit(2);
    };
    // First, before any statement.
    let handle = PrometheusBuilder::new().install_recorder()?;

    let opts: LbOpts = url.parse()?;
    let pool = LoadBalancedPool::new(opts);
    for _ in 0..20 {
        let mut conn = pool.get_conn().await?;
        conn.query_drop("SELECT 1").await?;
    }
    pool.disconnect().await;

    print!("{}", handle.render());
    Ok(())
}
