#!/usr/bin/env bash
# Compares four ways to spread MySQL traffic over three servers under ONE workload and ONE
# fault schedule, and prints one markdown table (compare/analyze.py defines the phases).
#
#   bash scripts/compare.sh            # DURATION=20 CONCURRENCY=8 RUNS=3 by default
#   CLIENTS="mysql_lb connector-j" bash scripts/compare.sh     # a subset of the rows
#   RUNS=5 ...                         # runs per client (rounds of one run per client)
#   COMPARE_KEEP=1 ...                 # keep the samples, logs and events of each run
#   MYSQL_LB_BIN=path/to/mysql-lb ...  # that build instead of building this tree (before/after)
#   MYSQL_LB_ARGS="--threads 1" ...    # more `mysql-lb bench` options for the mysql_lb row
#                                      # (e.g. another --runtime/--threads; docs/throughput.md)
#
# Each client runs RUNS times, in rounds (mysql_lb, autoReconnect, haproxy, connector-j, then
# again), one run at a time, never two side by side. The first table (compare/analyze.py) has
# one row per run (`mysql_lb #2`); the second, per client: the median healthy statements/s
# with its spread (min-max, and (max-min)/median), the client's CPU per statement (user+system
# time of the whole client process over the whole run, JVM start-up included, divided by its
# finished statements) and the load average when each run started. The servers and the client
# share the machine (with anything else running): a high load average means noisy figures.
#
# Workload: CONCURRENCY closed-loop workers, each on one connection, running `SELECT @@port`
# for DURATION seconds. Faults, at fractions of DURATION counted from the client's own start
# (20 s gives 5, 10, 12 and 16 s): SIGKILL server 0 at 25 %, restart it at 50 %, SIGSTOP
# server 1 at 60 % (a hung host), SIGCONT it at 80 %.
#
# The four clients, with the same bounds: 1 s to connect, 2 s per statement.
#   mysql_lb       mysql-lb bench --driver lb over the three servers
#                  (mysql://...?connect_timeout=1s&socket_timeout=2s, other options default;
#                  the bench's default runtime: one current_thread runtime per core)
#   autoReconnect  mysql-lb bench --driver autoreconnect (the emulation of Connector/J's
#                  autoReconnect=true), same URL, with Connector/J's documented defaults
#                  maxReconnects 3 and initialTimeout 2 s (--initial-timeout 2s)
#   haproxy        mysql-lb bench --driver lb with a one-host URL to HAProxy (Debian's
#                  haproxy, TCP mode, mysql-check; compare/haproxy.cfg.in says which options)
#   mysql_lb-mt    optional (not in the default CLIENTS): as mysql_lb with --runtime
#                  multi-thread (tokio's work-stealing scheduler, 2 workers; the default
#                  before docs/throughput.md measured both)
#   mysql_async    optional: mysql-lb bench --driver mysql-async, plain mysql_async (one
#                  connection per worker, worker i on server i mod 3, no failover), same URL:
#                  the floor for the round trip, with errors under faults
#   connector/j    compare/java/LbBench.java on Debian's MariaDB Connector/J (2.7.x):
#                  jdbc:mariadb:loadbalance://P0,P1,P2/?connectTimeout=1000&socketTimeout=2000
#                  and nothing else, so its HA options keep their defaults: autoReconnect
#                  false, retriesAllDown 120, failoverLoopRetries 120, validConnectionTimeout
#                  0, loadBalanceBlacklistTimeout 50 s.
#
# Servers come from `mysql-lb sandbox` (real mariadbd on 127.0.0.1, a fixed public test
# password), driven over stdin as a bash coprocess. Between clients server 0 is checked and
# restarted if needed and server 1 resumed, so every client starts on three healthy servers.
#
# Installs what is missing with apt-get (haproxy, libmariadb-java, a JDK, mariadb-server).
# Every wait is bounded; on exit (normal, error or Ctrl-C) the sandbox, HAProxy and any
# client still running are stopped. Not part of CI: it takes a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-20}
CONCURRENCY=${CONCURRENCY:-8}
CLIENTS=${CLIENTS:-mysql_lb autoReconnect haproxy connector-j}
RUNS=${RUNS:-3}
SQL='SELECT @@port'
CONNECT_TIMEOUT_MS=1000
SOCKET_TIMEOUT_MS=2000
CJ_JAR=/usr/share/java/mariadb-java-client.jar

die() { echo "compare: $*" >&2; exit 1; }
[[ $DURATION =~ ^[0-9]+$ ]] && ((DURATION >= 8 && DURATION <= 600)) ||
  die "DURATION=$DURATION: give whole seconds, 8 to 600"
[[ $CONCURRENCY =~ ^[0-9]+$ ]] && ((CONCURRENCY >= 1 && CONCURRENCY <= 100)) ||
  die "CONCURRENCY=$CONCURRENCY: give 1 to 100"
[[ $RUNS =~ ^[0-9]+$ ]] && ((RUNS >= 1 && RUNS <= 20)) || die "RUNS=$RUNS: give 1 to 20"
for c in $CLIENTS; do
  [[ $c =~ ^(mysql_lb|mysql_lb-mt|mysql_async|autoReconnect|haproxy|connector-j)$ ]] ||
    die "CLIENTS: unknown client \`$c\` (mysql_lb mysql_lb-mt mysql_async autoReconnect haproxy connector-j)"
done
MARIADBD=$(command -v mariadbd || echo /usr/sbin/mariadbd)

# --- what is needed -------------------------------------------------------------------
missing=()
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
[[ -r $CJ_JAR ]] || missing+=(libmariadb-java)
command -v javac >/dev/null 2>&1 || missing+=(default-jdk-headless)
[[ -x $MARIADBD ]] || missing+=(mariadb-server)
if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo=sudo
  echo "compare: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  # The packages may start system services; this script starts its own.
  $sudo service haproxy stop >/dev/null 2>&1 || true
  $sudo service mariadb stop >/dev/null 2>&1 || true
fi
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)

if [[ -n ${MYSQL_LB_BIN:-} ]]; then
  BIN=$MYSQL_LB_BIN
  [[ -x $BIN ]] || die "MYSQL_LB_BIN=$BIN is not an executable"
else
  echo "compare: building mysql-lb (release)" >&2
  cargo build --release --quiet -p mysql-lb
  BIN=${CARGO_TARGET_DIR:-target}/release/mysql-lb
fi
if [[ " $CLIENTS " =~ \ (mysql_lb|mysql_lb-mt|mysql_async|autoReconnect|haproxy)\  ]]; then
  "$BIN" bench --help >/dev/null 2>&1 || die "$BIN has no \`bench\` subcommand"
fi

# --- cleanup: everything this script starts is stopped here --------------------------
WORK=""
HAPROXY_PID=""
CLIENT_PID=""
SANDBOX_PID=""
cleanup() {
  local rc=$?
  [[ -n $CLIENT_PID ]] && kill "$CLIENT_PID" 2>/dev/null || true
  [[ -n $HAPROXY_PID ]] && kill "$HAPROXY_PID" 2>/dev/null || true
  if [[ -n $SANDBOX_PID ]]; then
    # SIGTERM makes the sandbox kill its servers and exit 0; bounded wait, then SIGKILL
    # (its servers die with it through PDEATHSIG).
    kill -TERM "$SANDBOX_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SANDBOX_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SANDBOX_PID" 2>/dev/null || true
  fi
  if [[ -n $WORK ]]; then
    [[ -n ${COMPARE_KEEP:-} ]] && echo "compare: runs kept in $WORK" >&2 || rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mysql-lb-compare.XXXXXX")
javac -d "$WORK/classes" compare/java/LbBench.java
# Runs a command and writes the CPU time (user + system, s) of it and its descendants to a
# file: the client's CPU per statement. timeout(1) signals the whole group, this included.
cat >"$WORK/cputime.py" <<'PY'
import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as f:
    f.write(f"{ru.ru_utime + ru.ru_stime:.3f}\n")
sys.exit(rc)
PY

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }

# --- the sandbox ------------------------------------------------------------------------
coproc SB { exec "$BIN" sandbox --servers 3 --haproxy-check-user haproxy_check; }
SANDBOX_PID=$SB_PID # bash unsets SB_PID when the coprocess ends
read -r -t 120 SB_JSON <&"${SB[0]}" || die "the sandbox did not start (see its stderr above)"
mapfile -t PORTS < <(python3 -c 'import json,sys
for h in json.loads(sys.argv[1])["hosts"]: print(h["port"])' "$SB_JSON")
PASSWORD=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["password"])' "$SB_JSON")
HOSTS="127.0.0.1:${PORTS[0]},127.0.0.1:${PORTS[1]},127.0.0.1:${PORTS[2]}"

# One sandbox command; its answer goes to $ANSWER. Fails the script on `error` or silence.
sb() {
  echo "$*" >&"${SB[1]}"
  read -r -t 60 ANSWER <&"${SB[0]}" || die "no answer from the sandbox to \`$*\`"
  [[ $ANSWER == ok* ]] || die "sandbox: \`$*\`: $ANSWER"
}

# Server 0 up (restarted if a run left it dead) and server 1 resumed.
heal() {
  sb resume 1
  echo "sql 0 SELECT 1" >&"${SB[1]}"
  read -r -t 60 ANSWER <&"${SB[0]}" || die "no answer from the sandbox"
  [[ $ANSWER == ok* ]] || sb restart 0
  for i in 0 1 2; do sb sql "$i" SELECT 1; done
}

# --- HAProxy ----------------------------------------------------------------------------
HAPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed -e "s/@LISTEN_PORT@/$HAPORT/" -e "s/@PORT0@/${PORTS[0]}/" -e "s/@PORT1@/${PORTS[1]}/" \
  -e "s/@PORT2@/${PORTS[2]}/" compare/haproxy.cfg.in >"$WORK/haproxy.cfg"
"$HAPROXY" -c -q -f "$WORK/haproxy.cfg" || die "haproxy rejects $WORK/haproxy.cfg"
"$HAPROXY" -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
HAPROXY_PID=$!

# --- one client run -----------------------------------------------------------------------
# Sleeps until `ms` after t0 (both in ms since the epoch).
sleep_until() {
  local left=$(($1 - $(now_ms)))
  ((left > 0)) && sleep "$((left / 1000)).$(printf %03d $((left % 1000)))"
  return 0
}

# fault AT DIR WHAT I: at AT (ms since the epoch) notes the instant in DIR/events, then has
# the sandbox do WHAT to server I (noted before sending: the fault acts from there on).
fault() {
  sleep_until "$1"
  echo "$3 $(now_ms)" >>"$2/events"
  sb "$3" "$4"
}

# run NAME DIR CLOCK COMMAND...: runs the client in the background while applying the schedule;
# its files go to DIR.
# CLOCK `stderr`: the client prints `t0_epoch_ms=N` on stderr when its clock starts, and the
# schedule counts from there; `launch`: it counts from the launch (for a mysql-lb build
# without --print-t0, whose clock starts after its first connect: tens to hundreds of ms late,
# so its phases start that much late too).
run() {
  local name=$1 dir=$2 clock=$3; shift 3
  mkdir -p "$dir"
  # Numbered when a client runs more than once (the summary groups by the part before ` #`).
  if ((RUNS > 1)); then echo "$name #${dir##*.}" >"$dir/name"; else echo "$name" >"$dir/name"; fi
  heal
  sleep 3 # HAProxy marks a restarted server up after two 500 ms checks
  cut -d' ' -f1-3 /proc/loadavg >"$dir/load"
  echo "compare: running $name (${dir##*.}/$RUNS) for ${DURATION}s, load average $(cat "$dir/load")" >&2
  local launched; launched=$(now_ms)
  timeout -k 5 $((DURATION + 40)) python3 "$WORK/cputime.py" "$dir/cpu_s" \
    "$@" --samples "$dir/samples.csv" >"$dir/stdout" 2>"$dir/stderr" &
  CLIENT_PID=$!
  # The client says when its clock starts; the JVM takes a while to get there, and mysql-lb
  # bench connects once first.
  local t0=$launched
  if [[ $clock == stderr ]]; then
    for _ in $(seq 200); do
      # The file may not exist yet: the client is still starting.
      t0=$(sed -n 's/.*t0_epoch_ms=\([0-9]*\).*/\1/p' "$dir/stderr" 2>/dev/null | head -1) || t0=""
      [[ -n $t0 ]] && break
      sleep 0.05
    done
    [[ -n $t0 ]] || die "$name did not start its clock within 10 s"
  fi
  echo "$t0" >"$dir/t0_ms"
  local d=$((DURATION * 1000))
  : >"$dir/events"
  fault $((t0 + d / 4)) "$dir" kill 0
  fault $((t0 + d / 2)) "$dir" restart 0
  fault $((t0 + d * 3 / 5)) "$dir" pause 1
  fault $((t0 + d * 4 / 5)) "$dir" resume 1
  local rc=0
  wait "$CLIENT_PID" || rc=$?
  CLIENT_PID=""
  ((rc == 0)) || { cat "$dir/stderr" >&2; die "$name exited with $rc"; }
  [[ -s $dir/samples.csv ]] || die "$name wrote no samples"
}

LB_URL="mysql://lb:$PASSWORD@$HOSTS/?connect_timeout=${CONNECT_TIMEOUT_MS}ms&socket_timeout=${SOCKET_TIMEOUT_MS}ms"
HA_URL="mysql://lb:$PASSWORD@127.0.0.1:$HAPORT/?connect_timeout=${CONNECT_TIMEOUT_MS}ms&socket_timeout=${SOCKET_TIMEOUT_MS}ms"
CJ_URL="jdbc:mariadb:loadbalance://$HOSTS/?connectTimeout=$CONNECT_TIMEOUT_MS&socketTimeout=$SOCKET_TIMEOUT_MS"
BENCH=(--concurrency "$CONCURRENCY" --duration "${DURATION}s" --sql "$SQL")
read -r -a LB_EXTRA <<<"${MYSQL_LB_ARGS:-}"
# mysql-lb bench --print-t0 (hidden) says when the clock of its samples starts.
CLOCK=launch
if "$BIN" bench --print-t0 --help >/dev/null 2>&1; then
  CLOCK=stderr
  BENCH+=(--print-t0)
fi

runs=()
for r in $(seq "$RUNS"); do
  for c in $CLIENTS; do
    d="$WORK/$c.$r"
    case $c in
      mysql_lb) run "$c" "$d" "$CLOCK" "$BIN" bench "$LB_URL" --driver lb "${BENCH[@]}" \
        "${LB_EXTRA[@]}" ;;
      mysql_lb-mt) run "$c" "$d" "$CLOCK" "$BIN" bench "$LB_URL" --driver lb \
        --runtime multi-thread "${BENCH[@]}" ;;
      mysql_async) run "$c" "$d" "$CLOCK" "$BIN" bench "$LB_URL" --driver mysql-async "${BENCH[@]}" ;;
      autoReconnect) run "$c" "$d" "$CLOCK" "$BIN" bench "$LB_URL" --driver autoreconnect \
        --max-reconnects 3 --initial-timeout 2s "${BENCH[@]}" ;;
      haproxy) run "$c" "$d" "$CLOCK" "$BIN" bench "$HA_URL" --driver lb "${BENCH[@]}" ;;
      connector-j)
        run "$c" "$d" stderr env LB_PASSWORD="$PASSWORD" java -cp "$CJ_JAR:$WORK/classes" LbBench \
          --url "$CJ_URL" --user lb --threads "$CONCURRENCY" --duration "$DURATION" --sql "$SQL"
        ;;
    esac
    runs+=("$d")
  done
done

echo
echo "$(nproc) cores, Linux $(uname -r), $("$BIN" --version 2>/dev/null || echo mysql-lb)," \
  "$("$MARIADBD" --version 2>/dev/null | sed -n 's/.*Ver \([^ ]*\).*/MariaDB \1/p')," \
  "$("$HAPROXY" -v | sed -n '1s/^HA-Proxy version \([^ ]*\).*/HAProxy \1/p;1s/^HAProxy version \([^ ]*\).*/HAProxy \1/p')," \
  "Connector/J $(dpkg-query -W -f '${Version}' libmariadb-java 2>/dev/null)," \
  "Java $(java -version 2>&1 | sed -n '1s/.*version "\([^"]*\)".*/\1/p');" \
  "DURATION=$DURATION CONCURRENCY=$CONCURRENCY RUNS=$RUNS"
echo
python3 compare/analyze.py "${runs[@]}"
echo
# Per client over its runs: the healthy phase's statements/s as analyze.py counts them, the
# client's CPU per statement and the load average each run started at.
python3 - "${runs[@]}" <<'PY'
import statistics, sys
from pathlib import Path
sys.path.insert(0, "compare")
import analyze

per = {}
for d in map(Path, sys.argv[1:]):
    name, phases, samples = analyze.read_run(d)
    _, start, end = phases[0]
    rate = analyze.phase_stats(samples, start, end)[0]
    e = per.setdefault(name.split(" #")[0], {"rate": [], "cpu": [], "load": []})
    e["rate"].append(rate)
    if (d / "cpu_s").exists() and samples:
        e["cpu"].append(float((d / "cpu_s").read_text()) * 1e6 / len(samples))
    e["load"].append((d / "load").read_text().split()[0])

def cell(values, fmt):
    if not values:
        return "-"
    med = statistics.median(values)
    if len(values) == 1:
        return fmt(med)
    spread = (max(values) - min(values)) / med * 100 if med else 0.0
    return f"{fmt(med)} ({fmt(min(values))}-{fmt(max(values))}, {spread:.0f} %)"

print("| client | runs | healthy stmt/s: median (min-max, spread) | client CPU µs/stmt: median (min-max, spread) | load average (1 min) at each start |")
print("|---|---:|---:|---:|---|")
for name, e in per.items():
    print(f"| {name} | {len(e['rate'])} | {cell(e['rate'], lambda v: f'{v:.0f}')} "
          f"| {cell(e['cpu'], lambda v: f'{v:.1f}')} | {' '.join(e['load'])} |")
print()
print("Client CPU: user + system time of the whole client process over the whole run (JVM")
print("start-up and the fault phases included) divided by its finished statements. A load")
print("average well above 2 (this script's own servers and client) means the figures are noisy.")
PY
