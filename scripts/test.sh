#!/usr/bin/env bash
# Runs the test suite on a Debian machine with Rust: installs Debian's mariadb-server if
# mariadbd is missing (the tests start their own servers on 127.0.0.1; none is left running).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq mariadb-server >/dev/null
  # The package may start a system server; the tests do not use it.
  $sudo service mariadb stop >/dev/null 2>&1 || true
fi
cargo test
