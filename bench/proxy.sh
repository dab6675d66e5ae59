#!/usr/bin/env bash
# Benchmark the proxy's own cost, on loopback, against nginx as a reverse proxy (what small
# teams put in front of their containers today) and HAProxy, in one run, and print one table.
#
# The upstream is nginx serving a 600-byte static page (the cheapest response there is, so the
# proxy's share is as large as it can be), always over plain HTTP/1.1 with kept connections.
# Peers: the upstream directly; `slipway proxy run` (one thread, and the default runtime);
# nginx's proxy_pass with upstream keepalive (one worker); HAProxy (one thread, server
# connections reused). Modes, each a group of rows:
#   http       plain HTTP/1.1: wrk, p50/p99 with one connection, req/s with sixteen;
#   https      HTTPS over kept connections, the same two wrk runs;
#   handshake  a new TLS connection (full handshake) per request (wrk, `Connection: close`),
#              sixteen at a time: "req/s" is new connections per second;
#   h2         HTTP/2 over TLS: h2load, sixteen connections, four streams each.
# Every TLS listener serves the same certificate (ECDSA P-256 for `localhost`, signed by a test
# CA made with openssl for this run), TLS 1.2 and 1.3, ALPN h2 and http/1.1.
# Latency and requests/s swing between rounds on a shared machine; the steady figure is the CPU
# time each proxy process spends per request: user + system time from /proc/PID/stat over the
# sixteen-connection run, divided by the requests the load generator counted.
# slipway's proxies write their access log (one JSON line per request) to a file, as they write
# it to the container's log in production; nginx's and HAProxy's access logs are off.
#
# On a machine with two or more cores the load generators run on the last core and every server
# (the upstream and the proxies) on the others (taskset): then requests/s is set by the servers'
# own cost rather than by whichever process the scheduler favours (--no-pin shares the cores).
#
# With --rounds N every row is measured N times, round after round, and the table shows the
# medians.
#
# Usage: bench/proxy.sh [--no-build] [--seconds N] [--rounds N] [--no-pin] [--modes http,https,handshake,h2]
#                       [--peers direct,slipway-1-thread,slipway-default,nginx-proxy,haproxy]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/var/tmp/slipway-bench}
BUILD=1
SECONDS_PER_RUN=8
MODES=http,https,handshake,h2
ROUNDS=1
PEER_LIST=direct,slipway-1-thread,slipway-default,nginx-proxy,haproxy
PIN=1
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) BUILD=0; shift ;;
    --seconds) SECONDS_PER_RUN=$2; shift 2 ;;
    --modes) MODES=$2; shift 2 ;;
    --peers) PEER_LIST=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --no-pin) PIN=0; shift ;;
    -h|--help) sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 64 ;;
  esac
done
log() { printf '>> %s\n' "$*" >&2; }

cd "$ROOT"
for tool in wrk nginx haproxy h2load openssl; do
  command -v $tool >/dev/null || {
    log "installing wrk, nginx-light, haproxy, nghttp2-client (h2load) and openssl from Debian"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk nginx-light haproxy nghttp2-client openssl >/dev/null
    break
  }
done
if [ "$BUILD" = 1 ]; then cargo build --release -p slipway >&2; fi
SLIPWAY=${SLIPWAY_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/slipway}

# Servers on every core but the last; the load generators on the last.
# taskset execs what it runs: a server started in the background keeps its PID in $!.
ON_SERVERS=() ON_CLIENT=()
CORES=$(nproc)
if [ "$PIN" = 1 ] && [ "$CORES" -ge 2 ] && command -v taskset >/dev/null; then
  ON_SERVERS=(taskset -c "0-$((CORES - 2))") ON_CLIENT=(taskset -c "$((CORES - 1))")
fi

UPSTREAM=127.0.0.1:18301
NGINX_PROXY=127.0.0.1:18302
SLIPWAY_PROXY=127.0.0.1:18303
SLIPWAY_PROXY_MT=127.0.0.1:18304
HAPROXY=127.0.0.1:18305
# The TLS ports, one per proxy; clients reach them as `localhost` (the certificate's name, sent
# as SNI).
NGINX_TLS=18312
SLIPWAY_TLS=18313
SLIPWAY_TLS_MT=18314
HAPROXY_TLS=18315
WORK=$BENCH_DIR/proxy
rm -rf "$WORK"; mkdir -p "$WORK/www" "$WORK/logs" "$WORK/certs"
head -c 600 /dev/zero | tr '\0' 'x' > "$WORK/www/index.html"
# One test CA and one certificate for `localhost`, served by every proxy.
(
  cd "$WORK/certs"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=slipway bench CA" -keyout ca.key -out ca.pem 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
    -keyout server.key -out server.csr 2>/dev/null
  printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > ext.cnf
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile ext.cnf -out server.pem 2>/dev/null
  cat server.pem ca.pem > chain.pem
  # HAProxy and slipway read the chain and its key from one file.
  cat chain.pem server.key > bundle.pem
)
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
# Kept connections stay kept: nginx would close each after 1000 requests (HTTP/2 too), which
# neither slipway nor HAProxy do.
nginx_conf nginx-proxy "upstream app { server $UPSTREAM; keepalive 32; }
  keepalive_requests 1000000;
  server {
    listen $NGINX_PROXY;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
  }
  server {
    listen 127.0.0.1:$NGINX_TLS ssl http2;
    ssl_certificate $WORK/certs/chain.pem;
    ssl_certificate_key $WORK/certs/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto https;
    }
  }"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid_file in "$WORK"/*.pid; do kill "$(cat "$pid_file")" 2>/dev/null || true; done
}
trap cleanup EXIT
"${ON_SERVERS[@]}" nginx -c "$WORK/upstream.conf"
"${ON_SERVERS[@]}" nginx -c "$WORK/nginx-proxy.conf"
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
  bind 127.0.0.1:$HAPROXY_TLS ssl crt $WORK/certs/bundle.pem alpn h2,http/1.1 ssl-min-ver TLSv1.2
  default_backend app
backend app
  server upstream $UPSTREAM
CONF
"${ON_SERVERS[@]}" haproxy -f "$WORK/haproxy.cfg" -D

start_proxy() { # start_proxy ADDRESS TLS_PORT NAME [--threads N]
  local address=$1 tls_port=$2 name=$3; shift 3
  "${ON_SERVERS[@]}" "$SLIPWAY" proxy run --listen "$address" --listen-tls "127.0.0.1:$tls_port" --state "$WORK/$name.json" \
    --socket "$WORK/$name.sock" "$@" >"$WORK/logs/$name.access.log" 2>"$WORK/logs/$name.log" &
  PIDS+=($!)
  echo $! > "$WORK/$name.slipway-pid"
  for _ in $(seq 1 50); do [ -S "$WORK/$name.sock" ] && break; sleep 0.1; done
  "$SLIPWAY" proxy ctl --socket "$WORK/$name.sock" \
    "{\"op\":\"gate\",\"targets\":[\"$UPSTREAM\"],\"check\":{\"path\":\"/\",\"interval_ms\":100,\"timeout_ms\":1000,\"healthy\":1,\"deadline_ms\":5000}}" >/dev/null
  "$SLIPWAY" proxy ctl --socket "$WORK/$name.sock" \
    "{\"op\":\"set\",\"service\":\"bench/prod/web\",\"path\":\"/\",\"groups\":[{\"release\":\"r1\",\"weight\":100,\"targets\":[\"$UPSTREAM\"]}]}" >/dev/null
  # The certificate goes in as slipway delivers one: into `tls/incoming/` beside the state
  # file, then the order.
  mkdir -p "$WORK/tls/incoming"
  cp "$WORK/certs/bundle.pem" "$WORK/tls/incoming/localhost.pem"
  "$SLIPWAY" proxy ctl --socket "$WORK/$name.sock" \
    "{\"op\":\"tls\",\"host\":\"localhost\",\"site\":{\"https_port\":$tls_port},\"certificate\":true}" >/dev/null
}
start_proxy "$SLIPWAY_PROXY" $SLIPWAY_TLS one-thread --threads 1
start_proxy "$SLIPWAY_PROXY_MT" $SLIPWAY_TLS_MT default
for address in $UPSTREAM $NGINX_PROXY $SLIPWAY_PROXY $SLIPWAY_PROXY_MT $HAPROXY; do
  curl -fs "http://$address/" >/dev/null || { log "nothing answers on $address"; exit 1; }
done
for port in $NGINX_TLS $SLIPWAY_TLS $SLIPWAY_TLS_MT $HAPROXY_TLS; do
  for version in --http1.1 --http2; do
    curl -fs $version --cacert "$WORK/certs/ca.pem" "https://localhost:$port/" >/dev/null ||
      { log "nothing answers $version on https://localhost:$port/"; exit 1; }
  done
done

wrk_run() { # wrk_run CONNECTIONS URL [WRK_ARGS...]: prints "p50_ms p99_ms rps requests"
  local connections=$1 url=$2; shift 2
  "${ON_CLIENT[@]}" wrk -t1 -c"$connections" -d"${SECONDS_PER_RUN}s" --latency "$@" "$url" | python3 -c '
import re, sys
text = sys.stdin.read()
def ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
p = dict((q, ms(v, u)) for q, v, u in re.findall(r"\s(50|99)%\s+([\d.]+)(us|ms|s)", text))
rps = re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)
requests = int(re.search(r"(\d+) requests in", text).group(1))
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
if errors or requests == 0:
    sys.exit("wrk: failed requests\n" + text)
print("%.3f %.3f %s %s" % (p["50"], p["99"], rps, requests))'
}
h2load_run() { # h2load_run URL: prints "- - rps requests", sixteen connections, four streams each
  "${ON_CLIENT[@]}" h2load -t1 -c16 -m4 -D "$SECONDS_PER_RUN" "$1" | python3 -c '
import re, sys
text = sys.stdin.read()
rps = float(re.search(r"finished in [\d.]+s, ([\d.]+) req/s", text).group(1))
done = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed", text)
if not done or int(done.group(1)) == 0 or int(done.group(2)) > 0:
    sys.exit("h2load: failed requests\n" + text)
print("- - %.2f %s" % (rps, done.group(1)))'
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
# The URL of a peer in a mode.
peer_url() { # peer_url MODE PEER
  local port
  if [ "$1" = http ]; then
    case $2 in
      direct) echo "http://$UPSTREAM/" ;;
      slipway-1-thread) echo "http://$SLIPWAY_PROXY/" ;;
      slipway-default) echo "http://$SLIPWAY_PROXY_MT/" ;;
      nginx-proxy) echo "http://$NGINX_PROXY/" ;;
      haproxy) echo "http://$HAPROXY/" ;;
    esac
    return
  fi
  case $2 in
    slipway-1-thread) port=$SLIPWAY_TLS ;;
    slipway-default) port=$SLIPWAY_TLS_MT ;;
    nginx-proxy) port=$NGINX_TLS ;;
    haproxy) port=$HAPROXY_TLS ;;
  esac
  echo "https://localhost:$port/"
}
# user + system clock ticks of a process, all its threads.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))
IFS=, read -r -a MODE_NAMES <<<"$MODES"
IFS=, read -r -a PEERS <<<"$PEER_LIST"
ROWS=()
declare -A P50 P99 RPS CPU
for mode in "${MODE_NAMES[@]}"; do
  case $mode in http|https|handshake|h2) ;; *) log "unknown mode: $mode (http, https, handshake, h2)"; exit 64 ;; esac
  for name in "${PEERS[@]}"; do
    case $name in direct|slipway-1-thread|slipway-default|nginx-proxy|haproxy) ;;
      *) log "unknown peer: $name"; exit 64 ;; esac
    # The upstream itself only speaks plain HTTP.
    if [ "$name" = direct ] && [ "$mode" != http ]; then continue; fi
    ROWS+=("$mode/$name")
  done
done
# Each round measures every row once, so a burst of load elsewhere on the machine spreads over
# the peers instead of falling on one; the table shows each figure's median over the rounds.
for round in $(seq 1 "$ROUNDS"); do
  for row in "${ROWS[@]}"; do
    mode=${row%%/*}; name=${row#*/}
    url=$(peer_url "$mode" "$name")
    log "round $round/$ROUNDS, $mode: $name ($url)"
    p50=-; p99=-; cpu=-
    case $mode in
      http|https) read -r p50 p99 _ _ < <(wrk_run 1 "$url") ;;
    esac
    if [ "$name" != direct ]; then pid=$(proxy_pid "$name"); before=$(cpu_ticks "$pid"); fi
    case $mode in
      http|https) read -r _ _ rps requests < <(wrk_run 16 "$url") ;;
      handshake) read -r _ _ rps requests < <(wrk_run 16 "$url" -H "Connection: close") ;;
      h2) read -r _ _ rps requests < <(h2load_run "$url") ;;
    esac
    if [ "$name" != direct ]; then
      after=$(cpu_ticks "$pid")
      cpu=$(python3 -c "print(f'{($after - $before) * $TICK_US / $requests:.1f}')")
    fi
    P50[$row]="${P50[$row]:-} $p50"; P99[$row]="${P99[$row]:-} $p99"
    RPS[$row]="${RPS[$row]:-} $rps"; CPU[$row]="${CPU[$row]:-} $cpu"
  done
done
median() { # median FORMAT VALUES...: the median, or - when the values are
  python3 -c '
import statistics, sys
values = sys.argv[2:]
print("-" if "-" in values else sys.argv[1] % statistics.median(float(v) for v in values))' "$@"
}
for row in "${ROWS[@]}"; do
  # shellcheck disable=SC2086 # the rounds' values, one word each
  P50[$row]=$(median %.3f ${P50[$row]}); P99[$row]=$(median %.3f ${P99[$row]})
  # shellcheck disable=SC2086
  RPS[$row]=$(median %.0f ${RPS[$row]}); CPU[$row]=$(median %.1f ${CPU[$row]})
done

pct() { # pct A B: A against B, or - when either is missing
  case "$1$2" in *-*) echo - ;; *) python3 -c "print(f'{($1 - $2) / $2 * 100:+.1f}%')" ;; esac
}
printf '\nproxy cost on loopback, upstream nginx static page (600 bytes), %ss per run, median of %s round(s), load %s\n' \
  "$SECONDS_PER_RUN" "$ROUNDS" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'handshake: req/s is new TLS connections per second (one request each); h2: 16 connections x 4 streams\n'
printf '%-10s %-18s %10s %10s %10s %11s\n' "mode" "peer" "p50 ms c1" "p99 ms c1" "req/s c16" "CPU us/req"
for row in "${ROWS[@]}"; do
  mode=${row%%/*}; name=${row#*/}
  printf '%-10s %-18s %10s %10s %10s %11s\n' "$mode" "$name" "${P50[$row]}" "${P99[$row]}" "${RPS[$row]}" "${CPU[$row]}"
done
printf '\n%-10s %-34s %10s %10s %10s\n' "mode" "against" "p50" "req/s c16" "CPU/req"
for mode in "${MODE_NAMES[@]}"; do
  for peer in nginx-proxy haproxy; do
    [ -n "${RPS[$mode/$peer]:-}" ] || continue
    for name in slipway-1-thread slipway-default; do
      [ -n "${RPS[$mode/$name]:-}" ] || continue
      printf '%-10s %-34s %10s %10s %10s\n' "$mode" "$name vs $peer" \
        "$(pct "${P50[$mode/$name]}" "${P50[$mode/$peer]}")" \
        "$(pct "${RPS[$mode/$name]}" "${RPS[$mode/$peer]}")" \
        "$(pct "${CPU[$mode/$name]}" "${CPU[$mode/$peer]}")"
    done
  done
done
