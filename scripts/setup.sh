#!/usr/bin/env bash
# Installs what the tests and the demo need on a Debian machine, if missing: Debian's
# mariadb-server (the tests and the demo start their own mariadbd on 127.0.0.1; the
# system service the package may start is stopped), OpenSSL's headers and pkg-config (for
# the `native-tls` build) and a font for the charts.
set -euo pipefail
missing=()
if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
  missing+=(mariadb-server)
fi
# The `native-tls` build links the system's OpenSSL.
dpkg -s libssl-dev >/dev/null 2>&1 || missing+=(libssl-dev)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
# The charts of `mysql-lb bench --plot` and `demo` draw their text with this font.
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  $sudo service mariadb stop >/dev/null 2>&1 || true
fi
