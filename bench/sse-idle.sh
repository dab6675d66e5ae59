#!/usr/bin/env bash
# Benchmark the CPU `slipway serve` spends on idle live-log streams, and print a table: for each
# count of streams, the server's CPU (user + system, % of one core) over 10 s while that many
# browsers follow the events of a run waiting at its approval gate (no new lines, no change of
# state), after 3 s to settle.
#
# Usage: bench/sse-idle.sh [--no-build] [--streams "0 500 2000"] [--before BIN] [--after BIN]
#   --before BIN  also measure another slipway binary (e.g. one built from an older commit)
#   --after BIN   the binary to measure (default: the release build of this checkout)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/var/tmp/slipway-bench}
BUILD=1
STREAMS="0 500 2000"
BEFORE=""
AFTER=""
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) BUILD=0; shift ;;
    --streams) STREAMS=$2; shift 2 ;;
    --before) BEFORE=$2; shift 2 ;;
    --after) AFTER=$2; BUILD=0; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 64 ;;
  esac
done
log() { printf '>> %s\n' "$*" >&2; }

cd "$ROOT"
if [ "$BUILD" = 1 ]; then cargo build --release -p slipway >&2; fi
AFTER=${AFTER:-${CARGO_TARGET_DIR:-$ROOT/target}/release/slipway}
# Each stream is a connection and a descriptor.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
TICKS=$(getconf CLK_TCK)
export BENCH_PASSWORD=bench-password

# measure LABEL BINARY STREAMS: prints one row of the table.
measure() {
  local label=$1 binary=$2 streams=$3
  local work=$BENCH_DIR/sse-idle/$label-$streams
  rm -rf "$work" && mkdir -p "$work/project"
  cd "$work/project"
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  # An older binary may not know max_connections; without it, a newer one serves 256 at once.
  local cap=""
  if "$binary" schema 2>/dev/null | grep -q max_connections; then cap="max_connections = 5000"; fi
  cat >slipway.toml <<EOF
schema = 1
[project]
name = "benchsse"
[environments.prod]
approval = { required = true }
[server]
listen = "127.0.0.1:$port"
users = { bench = "env:BENCH_PASSWORD" }
public_read = true
$cap
[pipelines.gated]
kind = "release"
steps = [{ name = "hello", run = "echo hello" }, "approve prod"]
EOF
  printf '.slipway/\n' >.gitignore
  git init -q -b main && git add -A && git -c user.name=bench -c user.email=bench@slipway.invalid commit -qm bench
  "$binary" serve >"$work/serve.log" 2>&1 &
  local server=$!
  for _ in $(seq 100); do curl -fsS -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null && break; sleep 0.1; done
  local id
  id=$(curl -fsS -u "bench:$BENCH_PASSWORD" -H 'Accept: application/json' -X POST \
    "http://127.0.0.1:$port/pipelines/gated/run" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  for _ in $(seq 300); do
    curl -fsS "http://127.0.0.1:$port/api/runs/$id" | grep -q '"state":"waiting"' && break
    sleep 0.1
  done
  # The streams: each a browser's EventSource on the waiting run, read now and then.
  python3 - "$port" "$id" "$streams" "$work/streams.ready" <<'PY' &
import socket, sys, select
port, run, count, ready = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
held = {}
poller = select.poll()
for _ in range(count):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(f"GET /runs/{run}/events?after=0 HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n".encode())
    held[s.fileno()] = s
    poller.register(s, select.POLLIN)
open(ready, "w").close()
while True:
    for fd, _ in poller.poll(1000):
        if not held[fd].recv(65536):
            sys.exit(f"the server closed a stream of run {run}")
PY
  local streams_pid=$!
  for _ in $(seq 600); do [ -e "$work/streams.ready" ] && break; sleep 0.1; done
  sleep 3
  local before after
  before=$(awk '{print $14 + $15}' "/proc/$server/stat")
  sleep 10
  after=$(awk '{print $14 + $15}' "/proc/$server/stat")
  local rss
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$server/status")
  kill "$streams_pid" 2>/dev/null || true
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  wait "$streams_pid" 2>/dev/null || true
  python3 -c "print(f'| {\"$label\":<8} | {$streams:>7} | {($after - $before) / $TICKS / 10 * 100:>14.1f} | {$rss / 1024:>8.1f} |')"
  cd "$ROOT"
}

printf '| %-8s | %7s | %14s | %8s |\n' binary streams "server CPU %" "RSS MiB"
printf '|----------|---------|----------------|----------|\n'
for streams in $STREAMS; do
  if [ -n "$BEFORE" ]; then measure before "$BEFORE" "$streams"; fi
  measure after "$AFTER" "$streams"
done
