#!/usr/bin/env bash
# The main job on a Debian machine with Rust: installs what it needs, then runs
# `mysql-lb demo` (about a minute; leaves nothing running). Extra arguments go to `demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo run --release -p mysql-lb -- demo "$@"
