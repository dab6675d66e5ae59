#!/usr/bin/env bash
# Benchmark the proxy's own cost, on loopback, against nginx as a reverse proxy (what small
# teams put in front of their containers today), in one run, and print a table.
#
# The upstream is nginx serving a 600-byte static page (the cheapest response there is, so the
# proxy's share is as large as it can be). wrk measures, with one connection, the latency p50 and
# p99 (no queueing), and with sixteen connections the requests per second of:
#   - the upstream directly;
#   - the upstream through `slipway proxy run` (one thread, and the default runtime);
#   - the upstream through nginx's proxy_pass with upstream keepalive;
#   - the upstream through HAProxy (one thread, server connections reused).
# Latency and requests/s swing between rounds on a shared machine; the steady figure is the CPU
# time each proxy process spends per request: user + system time from /proc/PID/stat over the
# sixteen-connection run, divided by the requests wrk counted.
# slipway's proxies write their access log (one JSON line per request) to a file, as they write
# it to the container's log in production; nginx's and HAProxy's access logs are off.
#
# Usage: bench/proxy.sh [--no-build] [--seconds N]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/var/tmp/slipway-bench}
BUILD=1
SECONDS_PER_RUN=8
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) BUILD=0; shift ;;
    --seconds) SECONDS_PER_RUN=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 64 ;;
  esac
done
log() { printf '>> %s\n' "$*" >&2; }

cd "$ROOT"
command -v wrk >/dev/null && command -v nginx >/dev/null && command -v haproxy >/dev/null || {
  log "installing wrk, nginx-light and haproxy from Debian"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk nginx-light haproxy >/dev/null
}
if [ "$BUILD" = 1 ]; then cargo build --release -p slipway >&2; fi
SLIPWAY=${SLIPWAY_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/slipway}

UPSTREAM=127.0.0.1:18301
NGINX_PROXY=127.0.0.1:18302
SLIPWAY_PROXY=127.0.0.1:18303
SLIPWAY_PROXY_MT=127.0.0.1:18304
HAPROXY=127.0.0.1:18305
WORK=$BENCH_DIR/proxy
rm -rf "$WORK"; mkdir -p "$WORK/www" "$WORK/logs"
head -c 600 /dev/zero | tr '\0' 'x' > "$WORK/www/index.html"
# Two nginx instances, as in production: the proxy is never the upstream's own process.
nginx_conf() { # nginx_conf NAME SERVER_BLOCK...
  cat > "$WORK/$1.conf" <<CONF
worker_processes 1;
pid $WORK/$1.pid;
error_log $WORK/logs/$1.error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK/logs; proxy_temp_path $WORK/logs;
  fastcgi_temp_path $WORK/logs; uwsgi_temp_path $WORK/logs; scgi_temp_path $WORK/logs;
  $2
}
CONF
}
nginx_conf upstream "server { listen $UPSTREAM; root $WORK/www; }"
nginx_conf nginx-proxy "upstream app { server $UPSTREAM; keepalive 32; }
  server {
    listen $NGINX_PROXY;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
  }"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid_file in "$WORK"/*.pid; do kill "$(cat "$pid_file")" 2>/dev/null || true; done
}
trap cleanup EXIT
nginx -c "$WORK/upstream.conf"
nginx -c "$WORK/nginx-proxy.conf"
cat > "$WORK/haproxy.cfg" <<CONF
global
  nbthread 1
  pidfile $WORK/haproxy.pid
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend bench
  bind $HAPROXY
  default_backend app
backend app
  server upstream $UPSTREAM
CONF
haproxy -f "$WORK/haproxy.cfg" -D

start_proxy() { # start_proxy ADDRESS NAME [--threads N]
  local address=$1 name=$2; shift 2
  "$SLIPWAY" proxy run --listen "$address" --state "$WORK/$name.json" \
    --socket "$WORK/$name.sock" "$@" >"$WORK/logs/$name.access.log" 2>"$WORK/logs/$name.log" &
  PIDS+=($!)
  echo $! > "$WORK/$name.slipway-pid"
  for _ in $(seq 1 50); do [ -S "$WORK/$name.sock" ] && break; sleep 0.1; done
  "$SLIPWAY" proxy ctl --socket "$WORK/$name.sock" \
    "{\"op\":\"gate\",\"targets\":[\"$UPSTREAM\"],\"check\":{\"path\":\"/\",\"interval_ms\":100,\"timeout_ms\":1000,\"healthy\":1,\"deadline_ms\":5000}}" >/dev/null
  "$SLIPWAY" proxy ctl --socket "$WORK/$name.sock" \
    "{\"op\":\"set\",\"service\":\"bench/prod/web\",\"path\":\"/\",\"groups\":[{\"release\":\"r1\",\"weight\":100,\"targets\":[\"$UPSTREAM\"]}]}" >/dev/null
}
start_proxy "$SLIPWAY_PROXY" one-thread --threads 1
start_proxy "$SLIPWAY_PROXY_MT" default
for address in $UPSTREAM $NGINX_PROXY $SLIPWAY_PROXY $SLIPWAY_PROXY_MT $HAPROXY; do
  curl -fs "http://$address/" >/dev/null || { log "nothing answers on $address"; exit 1; }
done

wrk_run() { # wrk_run CONNECTIONS URL: prints "p50_ms p99_ms rps requests"
  wrk -t1 -c"$1" -d"${SECONDS_PER_RUN}s" --latency "$2" | python3 -c '
import re, sys
text = sys.stdin.read()
def ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
p = dict((q, ms(v, u)) for q, v, u in re.findall(r"\s(50|99)%\s+([\d.]+)(us|ms|s)", text))
rps = re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)
requests = re.search(r"(\d+) requests in", text).group(1)
print("%.3f %.3f %s %s" % (p["50"], p["99"], rps, requests))'
}
# The process that does a peer's proxying: nginx's and HAProxy's workers, slipway's one process.
proxy_pid() {
  case $1 in
    nginx-proxy) pgrep -P "$(cat "$WORK/nginx-proxy.pid")" | head -1 ;;
    haproxy) cat "$WORK/haproxy.pid" ;;
    slipway-1-thread) cat "$WORK/one-thread.slipway-pid" ;;
    slipway-default) cat "$WORK/default.slipway-pid" ;;
  esac
}
# user + system clock ticks of a process, all its threads.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))
PEERS=(direct slipway-1-thread slipway-default nginx-proxy haproxy)
declare -A P50 P99 RPS CPU
for name in "${PEERS[@]}"; do
  case $name in
    direct) address=$UPSTREAM ;;
    slipway-1-thread) address=$SLIPWAY_PROXY ;;
    slipway-default) address=$SLIPWAY_PROXY_MT ;;
    nginx-proxy) address=$NGINX_PROXY ;;
    haproxy) address=$HAPROXY ;;
  esac
  log "wrk: $name"
  read -r P50[$name] P99[$name] _ _ < <(wrk_run 1 "http://$address/")
  if [ "$name" = direct ]; then
    read -r _ _ RPS[$name] _ < <(wrk_run 16 "http://$address/")
    CPU[$name]=-
  else
    pid=$(proxy_pid "$name")
    before=$(cpu_ticks "$pid")
    read -r _ _ RPS[$name] requests < <(wrk_run 16 "http://$address/")
    after=$(cpu_ticks "$pid")
    CPU[$name]=$(python3 -c "print(f'{($after - $before) * $TICK_US / $requests:.1f}')")
  fi
done

pct() { python3 -c "print(f'{($1 - $2) / $2 * 100:+.1f}%')"; }
printf '\nproxy cost on loopback, upstream nginx static page (600 bytes), %ss per run\n' "$SECONDS_PER_RUN"
printf '%-20s %10s %10s %10s %13s %14s %15s\n' "path" "p50 ms c1" "p99 ms c1" "req/s c16" "CPU us/req" "p50 vs direct" "req/s vs direct"
for name in "${PEERS[@]}"; do
  printf '%-20s %10s %10s %10s %13s %14s %15s\n' "$name" "${P50[$name]}" "${P99[$name]}" "${RPS[$name]}" \
    "${CPU[$name]}" "$(pct "${P50[$name]}" "${P50[direct]}")" "$(pct "${RPS[$name]}" "${RPS[direct]}")"
done
printf '\n%-34s %12s %12s %12s\n' "slipway against" "p50" "req/s c16" "CPU/req"
for peer in nginx-proxy haproxy; do
  for name in slipway-1-thread slipway-default; do
    printf '%-34s %12s %12s %12s\n' "$name vs $peer" "$(pct "${P50[$name]}" "${P50[$peer]}")" \
      "$(pct "${RPS[$name]}" "${RPS[$peer]}")" "$(pct "${CPU[$name]}" "${CPU[$peer]}")"
  done
done
