//! What one pick costs: `Balancer::pick_host` (the strategy and the blacklist, what a
//! connect, a checkout or a rebalance asks) over 3, 30, 300 and 1,000 hosts, for each
//! strategy. No servers: the hosts are addresses nobody connects to, each with a measured
//! latency (a few samples around 0.3 ms), as a running service's would have. Prints the median
//! over `ROUNDS` rounds of `PICKS` picks each, in nanoseconds per pick; asserts nothing.
//!
//! Two cases: nothing blacklisted (a healthy cluster: the strategy reads two hosts in place,
//! whatever their number), and one host blacklisted (a blocked pick is drawn again; the open
//! hosts are listed only for a strategy that keeps choosing a blocked host, such as
//! `sequential` when the blocked host is first).
//!
//! `cargo bench --bench pick`; env: `PICKS` per round (default 200000), `ROUNDS` (default 7).

mod common;

use std::time::{Duration, Instant};

use common::{env, median};
use mysql_lb::{Balancer, Blacklist, HostAddr, HostStats, LbOpts};

const STRATEGIES: &[&str] = &[
    "random",
    "roundRobin",
    "bestResponseTime",
    "peakEwma",
    "sequential",
];
const SIZES: &[usize] = &[3, 30, 300, 1000];

fn balancer(n: usize, strategy: &str) -> std::sync::Arc<Balancer> {
    let addrs: Vec<HostAddr> = (0..n)
        .map(|i| HostAddr::new(format!("10.77.{}.{}", i / 250, i % 250 + 1), 3306))
        .collect();
    let hosts: Vec<String> = addrs.iter().map(ToString::to_string).collect();
    for (i, a) in addrs.iter().enumerate() {
        let stats = HostStats::of(a);
        for k in 0..8u64 {
            let us = 280 + (i as u64 * 7 + k * 13) % 40;
            stats.observe(Duration::from_micros(us), Duration::from_secs(1));
        }
    }
    let url = format!("mysql://u:p@{}/?strategy={strategy}", hosts.join(","));
    let opts: LbOpts = url.parse().expect("bench URL");
    Balancer::with_blacklist(opts, std::sync::Arc::new(Blacklist::new()))
}

/// Nanoseconds per pick, median over rounds.
fn measure(b: &Balancer, picks: u64, rounds: usize) -> f64 {
    let mut per = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..picks {
            std::hint::black_box(b.pick_host());
        }
        per.push(t.elapsed().as_nanos() as f64 / picks as f64);
    }
    median(per)
}

fn main() {
    let picks = env("PICKS", 200_000);
    let rounds = env("ROUNDS", 7) as usize;
    // The stats' clock is tokio's; a runtime makes it the real one.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        println!(
            "== pick: ns per Balancer::pick_host, median of {rounds} rounds of {picks} picks =="
        );
        println!("load average: {}", common::loadavg());
        for blacklisted in [false, true] {
            println!(
                "\n{}",
                if blacklisted {
                    "one host blacklisted (the middle one; a blocked pick is drawn again)"
                } else {
                    "nothing blacklisted (healthy)"
                }
            );
            print!("  {:<18}", "strategy");
            for n in SIZES {
                print!("{:>10}", format!("{n} hosts"));
            }
            println!("{:>14}", "1000 / 3");
            for s in STRATEGIES {
                print!("  {s:<18}");
                let mut first = 0.0;
                let mut last = 0.0;
                for (k, &n) in SIZES.iter().enumerate() {
                    let b = balancer(n, s);
                    if blacklisted {
                        let victim = b.opts().hosts()[n / 2].addr.clone();
                        b.blacklist()
                            .add(&victim, Duration::from_secs(3600), "bench");
                    }
                    let ns = measure(&b, picks, rounds);
                    if k == 0 {
                        first = ns;
                    }
                    last = ns;
                    print!("{ns:>10.1}");
                }
                println!("{:>13.2}×", last / first);
            }
        }
        println!("\nload average: {}", common::loadavg());
    });
}
