#!/usr/bin/env bash
# Runs examples/shop by hand (plain docker, no slipway) and checks it answers, then removes
# everything it created: the check that the example's Dockerfiles, entrypoints and app work.
#
#   scripts/example-smoke.sh [--keep-images]
#
# Needs the test bed (scripts/testbed.sh up) for the debian:bookworm-20251117-slim stand-in.
# Publishes on 127.0.0.1:${SMOKE_API_PORT:-18000} (api) and 127.0.0.1:${SMOKE_WEB_PORT:-18080} (web).
set -euo pipefail

cd "$(dirname "$0")/.."
SHOP=$PWD/examples/shop
KEEP_IMAGES=0
[[ ${1:-} == --keep-images ]] && KEEP_IMAGES=1
API_PORT=${SMOKE_API_PORT:-18000}
WEB_PORT=${SMOKE_WEB_PORT:-18080}
RUN_ID=smoke-$$
NET=slipway-example-$RUN_ID
VOL=slipway-example-db-$RUN_ID
TAG=$RUN_ID
IMAGES=(slipway-example/base-python:"$TAG" slipway-example/base-nginx:"$TAG" slipway-example/db:"$TAG")
CONTAINERS=(shop-"$RUN_ID"-web shop-"$RUN_ID"-api shop-"$RUN_ID"-db)
PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
DATABASE_URL=postgresql://app:$PASSWORD@db:5432/shop

say() { printf 'example-smoke: %s\n' "$*" >&2; }

cleanup() {
  local rc=$?
  if [[ $rc -ne 0 ]]; then
    local c
    for c in "${CONTAINERS[@]}"; do
      docker logs --tail 20 "$c" 2>&1 | sed "s/^/  [$c] /" >&2 || true
    done
  fi
  say "cleaning up"
  docker rm -f "${CONTAINERS[@]}" >/dev/null 2>&1 || true
  docker network rm "$NET" >/dev/null 2>&1 || true
  docker volume rm "$VOL" >/dev/null 2>&1 || true
  if [[ $KEEP_IMAGES -eq 0 ]]; then
    docker image rm "${IMAGES[@]}" >/dev/null 2>&1 || true
  fi
  exit "$rc"
}
trap cleanup EXIT

expect() { # expect NAME WANT GOT
  if [[ $3 == *"$2"* ]]; then
    say "ok   $1: $3"
  else
    say "FAIL $1: wanted '$2', got '$3'"
    return 1
  fi
}

wait_healthy() {
  local c=$1 i s=""
  for ((i = 0; i < 60; i++)); do
    s=$(docker inspect --format '{{.State.Health.Status}}' "$c")
    [[ $s == healthy ]] && return 0
    sleep 1
  done
  say "$c is $s after 60s"
  return 1
}

docker image inspect debian:bookworm-20251117-slim >/dev/null 2>&1 ||
  { say "debian:bookworm-20251117-slim missing: run scripts/testbed.sh up"; exit 1; }

say "building images (tag $TAG)"
docker build -q -t "${IMAGES[0]}" "$SHOP/base/python" >/dev/null
docker build -q -t "${IMAGES[1]}" "$SHOP/base/nginx" >/dev/null
docker build -q -t "${IMAGES[2]}" "$SHOP/services/db" >/dev/null

say "base tests"
docker run --rm "${IMAGES[0]}" python3 -c 'import psycopg2' >/dev/null
docker run --rm "${IMAGES[1]}" nginx -t 2>/dev/null

say "starting db, api (app/api bind-mounted read-only) and web on network $NET"
docker network create "$NET" >/dev/null
docker volume create "$VOL" >/dev/null
docker run -d --name "${CONTAINERS[2]}" --network "$NET" --network-alias db \
  -e DB_PASSWORD="$PASSWORD" -v "$VOL:/var/lib/postgresql/data" "${IMAGES[2]}" >/dev/null
wait_healthy "${CONTAINERS[2]}"
docker run --rm --network "$NET" -v "$SHOP/app/api:/srv/app:ro" -e DATABASE_URL="$DATABASE_URL" \
  "${IMAGES[0]}" python3 -m api.migrate
docker run -d --name "${CONTAINERS[1]}" --network "$NET" --network-alias api \
  -p "127.0.0.1:$API_PORT:8000" -v "$SHOP/app/api:/srv/app:ro" \
  -e DATABASE_URL="$DATABASE_URL" -e APP_ENV=dev -e GREETING="hello from dev" \
  "${IMAGES[0]}" python3 -m api >/dev/null
docker run -d --name "${CONTAINERS[0]}" --network "$NET" --network-alias web \
  -p "127.0.0.1:$WEB_PORT:8080" -v "$SHOP/app/web:/srv/www:ro" "${IMAGES[1]}" >/dev/null
wait_healthy "${CONTAINERS[1]}"
wait_healthy "${CONTAINERS[0]}"

api=http://127.0.0.1:$API_PORT
web=http://127.0.0.1:$WEB_PORT
get() { curl -sS -w ' %{http_code}' "$@" | tr -d '\n'; }
expect "api GET /health" "ok 200" "$(get "$api/health")"
expect "web GET /api/health" "ok 200" "$(get "$web/api/health")"
expect "web GET /api/env" '"environment": "dev"' "$(get "$web/api/env")"
expect "web GET /api/visits" '{"visits": 0} 200' "$(get "$web/api/visits")"
expect "web POST /api/visits" '{"visits": 1} 201' "$(get -X POST "$web/api/visits")"
expect "web POST /api/visits" '{"visits": 2} 201' "$(get -X POST "$web/api/visits")"
expect "web GET /api/visits" '{"visits": 2} 200' "$(get "$web/api/visits")"
expect "web GET /" "200" "$(curl -sS -o /dev/null -w '%{http_code} %{content_type}' "$web/")"
docker run --rm --network "$NET" -v "$SHOP/app/api:/srv/app:ro" -e DATABASE_URL="$DATABASE_URL" \
  -e APP_ENV=dev "${IMAGES[0]}" python3 -m api.smoke >&2
docker stop "${CONTAINERS[2]}" >/dev/null
expect "api GET /health with the db stopped" "503" "$(get "$api/health")"
say "all checks passed"
