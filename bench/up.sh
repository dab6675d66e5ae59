#!/usr/bin/env bash
# Benchmark `slipway up stage` of the example shop on the local engine, in one run, and print a
# table: `up` from nothing broken down into services healthy, app images loaded and apps healthy;
# a second `up` (nothing to do); and `docker-compose up -d` of the compose file `slipway compose
# export stage` writes, timed to the same point (the api answering its health check).
#
# Usage: bench/up.sh [--no-build] [--runs N]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/var/tmp/slipway-bench}
BUILD=1
RUNS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) BUILD=0; shift ;;
    --runs) RUNS=$2; shift 2 ;;
    -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 64 ;;
  esac
done
log() { printf '>> %s\n' "$*" >&2; }

cd "$ROOT"
scripts/testbed.sh up >&2
# shellcheck disable=SC1090,SC1091
source "${SLIPWAY_TESTBED_DIR:-/var/tmp/slipway-testbed}/env"
command -v docker-compose >/dev/null || {
  log "installing docker-compose from Debian"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker-compose >/dev/null
}
if [ "$BUILD" = 1 ]; then cargo build --release -p slipway >&2; fi
SLIPWAY=${SLIPWAY_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/slipway}
PORT=18281

WORK=$BENCH_DIR/up
rm -rf "$WORK"; mkdir -p "$WORK"
cp -r examples/shop "$WORK/shop"
P=$WORK/shop
rm -rf "$P/.slipway" "$P/slipway.lock"
sed -i -e 's/name = "shop"/name = "benchup"/' -e "s/127.0.0.1:8081/127.0.0.1:$PORT/" "$P/slipway.toml"
(cd "$P" && git init -q && git add -A && git -c user.email=b@x -c user.name=b commit -qm bench)
run() { (cd "$P" && "$SLIPWAY" "$@"); }
export SHOP_DB_PASSWORD=bench-up-password
log "bases and app images"
run base release >/dev/null 2>&1
run base update >/dev/null
run build >/dev/null

stamp() { while IFS= read -r line; do printf '%s %s\n' "$(date +%s%N)" "$line"; done; }
ms() { echo $(( ($2 - $1) / 1000000 )); }
wait_healthy() { # until the api answers its health check through web's published port
  for _ in $(seq 1 600); do
    curl -fs "http://127.0.0.1:$PORT/api/health" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  return 1
}

TOTAL=(); SERVICES=(); IMAGES=(); APPS=(); NOOP=(); COMPOSE=()
for i in $(seq 1 "$RUNS"); do
  log "run $i: slipway up stage from nothing"
  run down stage --volumes >/dev/null 2>&1 || true
  docker image rm benchup/api:latest benchup/web:latest >/dev/null 2>&1 || true
  t0=$(date +%s%N)
  run up stage 2>&1 >/dev/null | stamp > "$WORK/up.log"
  t1=$(date +%s%N)
  services_ns=$(grep ' services healthy' "$WORK/up.log" | cut -d' ' -f1)
  # Image loading: from each "loading its image" line to the line after it.
  images_ms=$(awk '/loading its image/ {start=$1; next} start {total += ($1 - start) / 1e6; start=0} END {printf "%d", total}' "$WORK/up.log")
  TOTAL+=("$(ms "$t0" "$t1")")
  SERVICES+=("$(ms "$t0" "$services_ns")")
  IMAGES+=("$images_ms")
  APPS+=($(( $(ms "$services_ns" "$t1") - images_ms )))
  t0=$(date +%s%N); run up stage >/dev/null 2>&1; t1=$(date +%s%N)
  NOOP+=("$(ms "$t0" "$t1")")

  log "run $i: docker-compose up -d of the exported file"
  # Debian's docker-compose (1.29) predates the top-level `name`; -p names the project instead.
  run compose export stage | sed '/^name: /d' > "$WORK/docker-compose.yml"
  run down stage --volumes >/dev/null 2>&1
  t0=$(date +%s%N)
  docker-compose -p benchup-compose -f "$WORK/docker-compose.yml" up -d >/dev/null 2>&1
  wait_healthy
  t1=$(date +%s%N)
  COMPOSE+=("$(ms "$t0" "$t1")")
  docker-compose -p benchup-compose -f "$WORK/docker-compose.yml" down -v >/dev/null 2>&1
done
run down stage --volumes >/dev/null 2>&1 || true

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '\nslipway up stage (the example shop: db service, api and web images), median of %s runs\n' "$RUNS"
printf '%-52s %8s\n' "phase" "ms"
printf '%-52s %8s\n' "-----" "--"
printf '%-52s %8s\n' "services healthy (network, db built from cache, started)" "$(median "${SERVICES[@]}")"
printf '%-52s %8s\n' "app images loaded into the engine" "$(median "${IMAGES[@]}")"
printf '%-52s %8s\n' "apps started and healthy" "$(median "${APPS[@]}")"
printf '%-52s %8s\n' "slipway up stage, total" "$(median "${TOTAL[@]}")"
printf '%-52s %8s\n' "slipway up stage again (nothing to do)" "$(median "${NOOP[@]}")"
printf '%-52s %8s\n' "docker-compose up -d of the export, until healthy" "$(median "${COMPOSE[@]}")"
