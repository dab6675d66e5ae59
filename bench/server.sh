#!/usr/bin/env bash
# Benchmark `slipway serve` and the pipeline runner, and print a table:
#   - the runner's overhead per step: a pipeline of 20 `true` steps against running `true` 20
#     times from a shell (the peer: the least any runner can do);
#   - the server's resident memory idle (just started) and after 1,000 runs in the history with
#     20 release runs queued behind one waiting at its gate;
#   - dashboard latency (p50, p99 over 300 requests each) of `/`, a run's page and /api/runs in
#     that state.
#
# Usage: bench/server.sh [--no-build]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/var/tmp/slipway-bench}
BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) BUILD=0; shift ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 64 ;;
  esac
done
log() { printf '>> %s\n' "$*" >&2; }

cd "$ROOT"
if [ "$BUILD" = 1 ]; then cargo build --release -p slipway >&2; fi
SLIPWAY=${SLIPWAY_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/slipway}
WORK=$BENCH_DIR/server
rm -rf "$WORK" && mkdir -p "$WORK/project"
cd "$WORK/project"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
steps=$(python3 -c 'print(", ".join(["{ name = \"s%d\", run = \"true\" }" % i for i in range(20)]))')
cat >slipway.toml <<EOF
schema = 1
[project]
name = "benchserver"
[environments.prod]
approval = { required = true }
[server]
listen = "127.0.0.1:$PORT"
users = { bench = "env:BENCH_PASSWORD" }
public_read = true
[pipelines.steps20]
kind = "release"
steps = [$steps]
[pipelines.one]
kind = "branch"
steps = [{ name = "check", run = "true" }]
[pipelines.gated]
kind = "release"
steps = ["approve prod", { name = "after", run = "true" }]
EOF
printf '.slipway/\n' >.gitignore
git init -q -b main && git add -A && git -c user.name=bench -c user.email=bench@slipway.invalid commit -qm bench

now() { python3 -c 'import time; print(time.monotonic())'; }

log "runner: 20 true steps, 5 times; the shell: 20 x true, 5 times"
runner_total=0
shell_total=0
for _ in 1 2 3 4 5; do
  a=$(now); "$SLIPWAY" pipeline run steps20 >/dev/null 2>&1; b=$(now)
  runner_total=$(python3 -c "print($runner_total + $b - $a)")
  a=$(now); for _ in $(seq 20); do sh -c true; done; b=$(now)
  shell_total=$(python3 -c "print($shell_total + $b - $a)")
done

log "1,000 runs in the history"
for _ in $(seq 1000); do "$SLIPWAY" pipeline run one >/dev/null 2>&1; done

export BENCH_PASSWORD=bench-password
"$SLIPWAY" serve >"$WORK/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -fsS -o /dev/null "http://127.0.0.1:$PORT/health" 2>/dev/null && break; sleep 0.1; done
sleep 1
rss_idle=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER/status")

log "one release run waiting at its gate, 20 queued behind it"
for _ in $(seq 21); do
  curl -fsS -u "bench:$BENCH_PASSWORD" -H 'Accept: application/json' -X POST \
    "http://127.0.0.1:$PORT/pipelines/gated/run" -o /dev/null
done
sleep 2
waiting_run=$("$SLIPWAY" pipeline list gated --limit 30 --output json |
  python3 -c 'import json,sys; print([r["id"] for r in json.load(sys.stdin) if r["state"] == "waiting"][0])')

log "dashboard latency"
latency() {
  python3 - "$PORT" "$1" <<'PY'
import http.client, sys, time
port, path = int(sys.argv[1]), sys.argv[2]
conn = http.client.HTTPConnection("127.0.0.1", port)
times = []
for _ in range(300):
    start = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    assert response.status == 200, response.status
    times.append((time.perf_counter() - start) * 1000)
times.sort()
print("%.2f %.2f" % (times[len(times) // 2], times[int(len(times) * 0.99) - 1]))
PY
}
read -r dash_p50 dash_p99 <<<"$(latency /)"
read -r run_p50 run_p99 <<<"$(latency "/runs/$waiting_run")"
read -r api_p50 api_p99 <<<"$(latency /api/runs)"
rss_loaded=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER/status")
queued=$("$SLIPWAY" pipeline list gated --limit 30 --output json |
  python3 -c 'import json,sys; print(sum(1 for r in json.load(sys.stdin) if r["state"] == "queued"))')

python3 - "$runner_total" "$shell_total" "$rss_idle" "$rss_loaded" "$queued" \
  "$dash_p50" "$dash_p99" "$run_p50" "$run_p99" "$api_p50" "$api_p99" <<'PY'
import sys
runner, shell, idle, loaded, queued = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
d50, d99, r50, r99, a50, a99 = map(float, sys.argv[6:12])
per_runner = runner / 100 * 1000
per_shell = shell / 100 * 1000
print()
print("| measure | slipway | peer | goal |")
print("| --- | --- | --- | --- |")
print(f"| per step, 20 `true` steps (5 runs) | {per_runner:.1f} ms | shell `true`: {per_shell:.1f} ms | overhead {per_runner - per_shell:.1f} ms < 50 ms |")
print(f"| server RSS, idle | {idle / 1024:.1f} MB | | < 30 MB |")
print(f"| server RSS, 1,000 runs + 1 waiting + {queued} queued, after 900 requests | {loaded / 1024:.1f} MB | | < 30 MB |")
print(f"| GET / (p50 / p99) | {d50:.2f} / {d99:.2f} ms | | p99 < 100 ms |")
print(f"| GET /runs/N (p50 / p99) | {r50:.2f} / {r99:.2f} ms | | p99 < 100 ms |")
print(f"| GET /api/runs (p50 / p99) | {a50:.2f} / {a99:.2f} ms | | |")
PY
