#!/usr/bin/env bash
# Runs the test suite of the whole workspace (the library, the sandbox, the command; the
# examples are compiled) on a Debian machine with Rust, installing what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo test --workspace --all-features
