#!/usr/bin/env bash
# What callers see when one of three servers hangs (benches/hung.rs): reads, pooled checkouts and
# writes under a SIGSTOP, and healthy throughput with hedging on and off. Release build (cargo
# bench uses the bench profile), on its own 3-server sandbox. The machine's load skews the
# figures, so `uptime` is printed before and after.
# Env passed through to the bench: TASKS (8), SECS (10), PAUSE_AT (3), RESUME_AT (7), SETTLE (10),
# ROUNDS (4), ROUND_SECS (3), WARMUP (1), PARTS ("1234").
set -euo pipefail
cd "$(dirname "$0")/.."

cargo bench --bench hung --no-run
echo "uptime before: $(uptime)"
cargo bench --bench hung
echo "uptime after: $(uptime)"
