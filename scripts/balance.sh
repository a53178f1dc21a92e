#!/usr/bin/env bash
# How evenly the strategies spread statements over three servers, whether they herd, and how
# fast a slowed or blacklisted host gets its share back (benches/balance.rs). Release build
# (cargo bench uses the bench profile), on its own 3-server sandbox behind fault proxies; about
# 3–4 minutes with the defaults. Other work on the machine skews the figures, so the load
# average is printed before and after.
# Env passed through to the bench: TASKS (8), SECS (4), WARM (2), SLOW (4), RECOVER (6), DOWN (3),
# AFTER (6), LATENCY_MS (5), BUCKET_MS (500), BLACKLIST_MS (1000), PRIME (20), HEDGE (0),
# PARTS ("1234"), STRATEGIES ("random,roundRobin,bestResponseTime,peakEwma").
set -euo pipefail
cd "$(dirname "$0")/.."

cargo bench --bench balance --no-run
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
cargo bench --bench balance
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
