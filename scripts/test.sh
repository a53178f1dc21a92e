#!/usr/bin/env bash
# Runs the test suite on a Debian machine with Rust, installing what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo test --all-features
