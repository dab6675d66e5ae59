#!/usr/bin/env bash
# Benchmark deploys on the local engine with the example shop (db, api, web), in one run, and print a
# table:
#   - deploy duration, command to 100% of the traffic on the new release (blue-green);
#   - time from the new release's passed health gate to the traffic switch;
#   - rollback: from the failed gate being detected to 100% on the old release, and
#     `slipway rollback` from start to end;
#   - the proxy's overhead against hitting the container directly (wrk: p50/p99, requests/s),
#     beside nginx's proxy_pass in the same place (its own container on the same network),
#     and the engine's plain TCP port relay (docker-proxy) as the floor of any extra hop;
#   - failed requests during `docker-compose up -d` of the same app (the status quo) against
#     during `slipway deploy`, with the same load.
#
# Usage: bench/deploy.sh [--no-build] [--seconds N]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/var/tmp/slipway-bench}
BUILD=1
SECONDS_PER_RUN=10
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) BUILD=0; shift ;;
    --seconds) SECONDS_PER_RUN=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 64 ;;
  esac
done
log() { printf '>> %s\n' "$*" >&2; }

cd "$ROOT"
scripts/testbed.sh up >&2
# shellcheck disable=SC1090,SC1091
source "${SLIPWAY_TESTBED_DIR:-/var/tmp/slipway-testbed}/env"
command -v wrk >/dev/null && command -v docker-compose >/dev/null || {
  log "installing wrk and docker-compose from Debian"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk docker-compose >/dev/null
}
if [ "$BUILD" = 1 ]; then cargo build --release -p slipway >&2; fi
SLIPWAY=${SLIPWAY_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/slipway}
PROXY=127.0.0.1:8090
HOST=bench-deploy.test
COMPOSE_PORT=18097

WORK=$BENCH_DIR/deploy
rm -rf "$WORK"; mkdir -p "$WORK"
cp -r examples/shop "$WORK/shop"
P=$WORK/shop
rm -rf "$P/.slipway" "$P/slipway.lock"
# The shop's prod (db, api, web), routed by its own Host header, blue-green.
python3 - "$P/slipway.toml" "$HOST" <<'PY'
import sys
path, host = sys.argv[1], sys.argv[2]
text = open(path).read()
text = text.replace('name = "shop"', 'name = "benchdeploy"')
text = text.replace('route = { path = "/" }', 'route = { host = "%s", path = "/" }' % host)
text = text.replace('route = { path = "/api" }', 'route = { host = "%s", path = "/api" }' % host)
text = text.replace('target = { kind = "docker", proxy = { publish = "127.0.0.1:8090" } }',
                    'target = { kind = "docker", proxy = { publish = "127.0.0.1:8090", gate_timeout = "8s", drain = "5s" } }')
open(path, "w").write(text)
PY
(cd "$P" && git init -q && git add -A && git -c user.email=b@x -c user.name=b commit -qm bench)
run() { (cd "$P" && "$SLIPWAY" "$@"); }
log "bases and the app images"
run base release >/dev/null 2>&1
run base update >/dev/null
run build >/dev/null
export SHOP_DB_PASSWORD=bench-deploy-password

now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }
# Prefix every line of stdin with the epoch in nanoseconds.
stamp() { while IFS= read -r line; do printf '%s %s\n' "$(date +%s%N)" "$line"; done; }

# A load of 8 threads against URL with Host header HOST for as long as the marker file exists;
# prints "requests failures" at the end.
load() { # load URL HOST MARKER OUT
  python3 - "$@" <<'PY' &
import sys, threading, time, os, urllib.request
url, host, marker, out = sys.argv[1:5]
counts = {"ok": 0, "failed": 0}
lock = threading.Lock()
def client():
    while os.path.exists(marker):
        try:
            request = urllib.request.Request(url, headers={"Host": host})
            with urllib.request.urlopen(request, timeout=5) as response:
                response.read()
                ok = 200 <= response.status < 300
        except Exception:
            ok = False
        with lock:
            counts["ok" if ok else "failed"] += 1
        time.sleep(0.005)
threads = [threading.Thread(target=client) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
open(out, "w").write("%d %d\n" % (counts["ok"] + counts["failed"], counts["failed"]))
PY
}

log "first deploy"
run deploy prod --yes >/dev/null 2>&1

# --- 1 and 2: deploy duration; passed gate → switch
log "slipway deploy under load"
echo x > "$WORK/slipway.marker"
load "http://$PROXY/" "$HOST" "$WORK/slipway.marker" "$WORK/slipway.load"
sleep 1
t0=$(now)
run deploy prod --yes 2>&1 | stamp > "$WORK/deploy.log"
t1=$(now)
sleep 1
rm -f "$WORK/slipway.marker"; wait
DEPLOY_MS=$(ms "$t0" "$t1")
# Ready for traffic: the last gate passed and, after it, the before_deploy hook (migrations) done.
GATE_NS=$(grep 'passed its health gate' "$WORK/deploy.log" | tail -1 | cut -d' ' -f1)
HOOK_START_NS=$(grep 'before_deploy hook in' "$WORK/deploy.log" | head -1 | cut -d' ' -f1)
READY_NS=$(grep 'before_deploy hook exited' "$WORK/deploy.log" | tail -1 | cut -d' ' -f1)
READY_NS=${READY_NS:-$GATE_NS}
HOOK_MS=$(ms "${HOOK_START_NS:-$READY_NS}" "$READY_NS")
SWITCH_NS=$(grep ' traffic: ' "$WORK/deploy.log" | head -1 | cut -d' ' -f1)
SWITCH_MS=$(ms "$READY_NS" "$SWITCH_NS")
read -r SLIPWAY_REQUESTS SLIPWAY_FAILED < "$WORK/slipway.load"

# --- 3: automatic rollback of a release that fails its gate, and `slipway rollback`
log "a release that fails its health gate"
sed -i 's|health = { path = "/", interval = "2s" }|health = { path = "/no-such-page", interval = "2s" }|' "$P/slipway.toml"
t0=$(now)
run deploy prod --yes 2>&1 | stamp > "$WORK/failed.log" || true
t1=$(now)
sed -i 's|health = { path = "/no-such-page", interval = "2s" }|health = { path = "/", interval = "2s" }|' "$P/slipway.toml"
DETECTED_NS=$(grep 'failed: restoring' "$WORK/failed.log" | head -1 | cut -d' ' -f1)
RESTORE_MS=$(ms "$DETECTED_NS" "$t1")
run deploy prod --yes >/dev/null 2>&1
t0=$(now); run rollback prod >/dev/null 2>&1; t1=$(now)
ROLLBACK_MS=$(ms "$t0" "$t1")

# --- 4: the proxy against the container directly. Latency with one connection (no queueing
# on this machine's two cores), throughput with sixteen. "proxy" is the proxy container's own
# address; "published port" adds the engine's port forwarding, as users reach it.
CONTAINER=$(docker ps --filter label=dev.slipway.project=benchdeploy --filter label=dev.slipway.name=web --format '{{.Names}}' | head -1)
DIRECT_IP=$(docker inspect -f '{{(index .NetworkSettings.Networks "slipway-proxy").IPAddress}}' "$CONTAINER")
PROXY_IP=$(docker inspect -f '{{(index .NetworkSettings.Networks "slipway-proxy").IPAddress}}' slipway-proxy)
wrk_run() { # wrk_run CONNECTIONS URL: prints "p50_ms p99_ms rps"
  wrk -t1 -c"$1" -d"${SECONDS_PER_RUN}s" --latency -H "Host: $HOST" "$2" | python3 -c '
import re, sys
text = sys.stdin.read()
def ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
p = dict((q, ms(v, u)) for q, v, u in re.findall(r"\s(50|99)%\s+([\d.]+)(us|ms|s)", text))
rps = re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)
print("%.3f %.3f %s" % (p["50"], p["99"], rps))'
}
log "wrk: the container, the proxy, the published port"
read -r DIRECT_P50 DIRECT_P99 _ < <(wrk_run 1 "http://$DIRECT_IP:8080/")
read -r PROXY_P50 PROXY_P99 _ < <(wrk_run 1 "http://$PROXY_IP:8090/")
read -r PORT_P50 PORT_P99 _ < <(wrk_run 1 "http://$PROXY/")
read -r _ _ DIRECT_RPS < <(wrk_run 16 "http://$DIRECT_IP:8080/")
read -r _ _ PROXY_RPS < <(wrk_run 16 "http://$PROXY_IP:8090/")
read -r _ _ PORT_RPS < <(wrk_run 16 "http://$PROXY/")
# The peer in the same place: nginx (from the web image itself) as a reverse proxy in its own
# container on the same network, with upstream keepalive, in front of the same container.
cat > "$WORK/nginx-proxy.conf" <<CONF
worker_processes 1;
pid /tmp/nginx-proxy.pid;
events { worker_connections 1024; }
http {
  access_log off;
  upstream app { server $DIRECT_IP:8080; keepalive 32; }
  server {
    listen 8090;
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host \$host; }
  }
}
CONF
docker rm -f benchdeploy-nginx-proxy >/dev/null 2>&1 || true
docker run -d --name benchdeploy-nginx-proxy --network slipway-proxy \
  -v "$WORK/nginx-proxy.conf:/etc/nginx/nginx.conf:ro" --entrypoint nginx \
  "$(docker inspect -f '{{.Config.Image}}' "$CONTAINER")" -g 'daemon off;' >/dev/null
NGINX_IP=$(docker inspect -f '{{(index .NetworkSettings.Networks "slipway-proxy").IPAddress}}' benchdeploy-nginx-proxy)
for _ in $(seq 1 50); do curl -fs "http://$NGINX_IP:8090/" >/dev/null && break; sleep 0.1; done
read -r NGINX_P50 NGINX_P99 _ < <(wrk_run 1 "http://$NGINX_IP:8090/")
read -r _ _ NGINX_RPS < <(wrk_run 16 "http://$NGINX_IP:8090/")
docker rm -f benchdeploy-nginx-proxy >/dev/null
# The api (Python): what an app's own work makes of the proxy's share.
API=$(docker ps --filter label=dev.slipway.project=benchdeploy --filter label=dev.slipway.name=api --format '{{.Names}}' | head -1)
API_IP=$(docker inspect -f '{{(index .NetworkSettings.Networks "slipway-proxy").IPAddress}}' "$API")
read -r API_DIRECT_P50 API_DIRECT_P99 _ < <(wrk_run 1 "http://$API_IP:8000/api/env")
read -r API_PROXY_P50 API_PROXY_P99 _ < <(wrk_run 1 "http://$PROXY_IP:8090/api/env")

# --- 5: docker-compose up -d of the same app, under the same load
log "docker-compose up -d under load"
docker tag "$(docker inspect -f '{{.Image}}' "$CONTAINER")" benchdeploy/web:compose
mkdir -p "$WORK/compose"
cat > "$WORK/compose/docker-compose.yml" <<YAML
version: "3.8"
services:
  web:
    image: benchdeploy/web:compose
    ports: ["127.0.0.1:$COMPOSE_PORT:8080"]
YAML
(cd "$WORK/compose" && docker-compose -p benchdeploy up -d >/dev/null 2>&1)
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$COMPOSE_PORT/" >/dev/null && break; sleep 0.2; done
echo x > "$WORK/compose.marker"
load "http://127.0.0.1:$COMPOSE_PORT/" "$HOST" "$WORK/compose.marker" "$WORK/compose.load"
sleep 1
t0=$(now)
(cd "$WORK/compose" && docker-compose -p benchdeploy up -d --force-recreate >/dev/null 2>&1)
t1=$(now)
sleep 1
rm -f "$WORK/compose.marker"; wait
COMPOSE_MS=$(ms "$t0" "$t1")
read -r COMPOSE_REQUESTS COMPOSE_FAILED < "$WORK/compose.load"
# The floor of any extra hop: the engine's own port relay (docker-proxy, plain TCP, no HTTP
# parsing) in front of the same page, against the same container's address.
COMPOSE_CONTAINER=$(cd "$WORK/compose" && docker-compose -p benchdeploy ps -q web)
COMPOSE_IP=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$COMPOSE_CONTAINER")
read -r RELAY_DIRECT_P50 RELAY_DIRECT_P99 _ < <(wrk_run 1 "http://$COMPOSE_IP:8080/")
read -r RELAY_P50 RELAY_P99 _ < <(wrk_run 1 "http://127.0.0.1:$COMPOSE_PORT/")
(cd "$WORK/compose" && docker-compose -p benchdeploy down >/dev/null 2>&1)
run down prod --volumes >/dev/null 2>&1 || true

pct() { python3 -c "print(f'{($1 - $2) / $2 * 100:+.1f}%')"; }
printf '\nslipway deploy on the local engine: the example shop (db, api x2, web), proxy %s\n' "$PROXY"
printf '%-52s %s\n' "measure" "value"
printf '%-52s %s\n' "-------" "-----"
printf '%-52s %s ms\n' "deploy, command to 100% on the new release" "$DEPLOY_MS"
printf '%-52s %s ms\n' "before_deploy hook (the api's migrations)" "$HOOK_MS"
printf '%-52s %s ms (goal < 1000)\n' "gate passed (and hook done) -> traffic switched" "$SWITCH_MS"
printf '%-52s %s ms (goal < 2000)\n' "failed gate detected -> 100% on the old release" "$RESTORE_MS"
printf '%-52s %s ms\n' "slipway rollback (start to end)" "$ROLLBACK_MS"
printf '\n%-26s %10s %10s %16s\n' "wrk, nginx static page" "p50 ms c1" "p99 ms c1" "requests/s c16"
printf '%-26s %10s %10s %16s\n' "container directly" "$DIRECT_P50" "$DIRECT_P99" "$DIRECT_RPS"
printf '%-26s %10s %10s %16s\n' "through the proxy" "$PROXY_P50" "$PROXY_P99" "$PROXY_RPS"
printf '%-26s %10s %10s %16s\n' "through the published port" "$PORT_P50" "$PORT_P99" "$PORT_RPS"
printf '%-26s %10s %10s %16s\n' "through nginx proxy_pass" "$NGINX_P50" "$NGINX_P99" "$NGINX_RPS"
printf '%-26s %10s %10s %16s\n' "proxy overhead" "$(pct "$PROXY_P50" "$DIRECT_P50")" "$(pct "$PROXY_P99" "$DIRECT_P99")" "$(pct "$PROXY_RPS" "$DIRECT_RPS")"
printf '%-26s %10s %10s %16s\n' "nginx's overhead" "$(pct "$NGINX_P50" "$DIRECT_P50")" "$(pct "$NGINX_P99" "$DIRECT_P99")" "$(pct "$NGINX_RPS" "$DIRECT_RPS")"
printf '%-26s %10s %10s %16s\n' "slipway against nginx" "$(pct "$PROXY_P50" "$NGINX_P50")" "$(pct "$PROXY_P99" "$NGINX_P99")" "$(pct "$PROXY_RPS" "$NGINX_RPS")"
printf '\n%-26s %10s %10s\n' "wrk, TCP relay floor" "p50 ms c1" "p99 ms c1"
printf '%-26s %10s %10s\n' "container directly" "$RELAY_DIRECT_P50" "$RELAY_DIRECT_P99"
printf '%-26s %10s %10s\n' "through docker-proxy (L4)" "$RELAY_P50" "$RELAY_P99"
printf '%-26s %10s %10s\n' "relay overhead" "$(pct "$RELAY_P50" "$RELAY_DIRECT_P50")" "$(pct "$RELAY_P99" "$RELAY_DIRECT_P99")"
printf '\n%-26s %10s %10s\n' "wrk, the api's /api/env" "p50 ms c1" "p99 ms c1"
printf '%-26s %10s %10s\n' "container directly" "$API_DIRECT_P50" "$API_DIRECT_P99"
printf '%-26s %10s %10s\n' "through the proxy" "$API_PROXY_P50" "$API_PROXY_P99"
printf '%-26s %10s %10s\n' "proxy overhead" "$(pct "$API_PROXY_P50" "$API_DIRECT_P50")" "$(pct "$API_PROXY_P99" "$API_DIRECT_P99")"
printf '\n%-40s %10s %10s %10s\n' "under load (8 clients)" "requests" "failed" "took ms"
printf '%-40s %10s %10s %10s\n' "docker-compose up -d --force-recreate" "$COMPOSE_REQUESTS" "$COMPOSE_FAILED" "$COMPOSE_MS"
printf '%-40s %10s %10s %10s\n' "slipway deploy (blue-green)" "$SLIPWAY_REQUESTS" "$SLIPWAY_FAILED" "$DEPLOY_MS"
