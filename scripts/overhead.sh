#!/usr/bin/env bash
# What the library costs the client per statement, next to plain mysql_async (benches/overhead.rs):
# the bench twice, release build (cargo bench uses the bench profile), on its own 3-server sandbox.
#   MODE=default: spans compiled in with no subscriber, metrics feature off.
#   MODE=metrics: metrics feature on, a Prometheus recorder installed.
# Env passed through to the bench: TASKS (8), SECS per round (3), ROUNDS of each kind (6), WARMUP (1).
# Runs the modes one after the other; other work on the machine skews the figures, so the load
# average is printed before and after.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
cargo bench --bench overhead --no-run
cargo bench --features metrics --bench overhead --no-run

out_default=$(mktemp)
out_metrics=$(mktemp)
trap 'rm -f "$out_default" "$out_metrics"' EXIT

MODE=default cargo bench --bench overhead | tee "$out_default"
echo
MODE=metrics LB_METRICS=1 cargo bench --features metrics --bench overhead | tee "$out_metrics"

echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "==== summaries ===="
sed -n '/^summary/,$p' "$out_default"
sed -n '/^summary/,$p' "$out_metrics"
