#!/usr/bin/env bash
# Runs the test suite of the whole workspace (the library, the sandbox, the command; the
# examples are compiled) on a Debian machine with Rust, installing what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Every feature but `native-tls`, which excludes the default `rustls` (mysql_async takes one).
cargo test --workspace --features mysql_lb/serde,mysql_lb/ed25519,mysql_lb/parsec,mysql_lb/metrics,mysql_lb/tracing,mysql_lb/srv
# The TLS tests once more over native-tls (the system's OpenSSL).
cargo test -p mysql_lb --no-default-features --features native-tls \
  --test tls
