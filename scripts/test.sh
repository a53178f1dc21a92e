#!/usr/bin/env bash
# Runs the test suite on a Debian machine with Rust: installs Debian's mariadb-server if
# mariadbd is missing, and a font for the charts (the tests start their own servers on
# 127.0.0.1; none is left running).
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
  missing+=(mariadb-server)
fi
# The charts of `mysql-lb bench --plot` and `demo` draw their text with this font.
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  # The package may start a system server; the tests do not use it.
  $sudo service mariadb stop >/dev/null 2>&1 || true
fi
cargo test
