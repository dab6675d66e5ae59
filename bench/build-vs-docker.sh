#!/usr/bin/env bash
# Benchmark `slipway build && slipway push` against `docker build` (FROM base + COPY app) +
# `docker push`, on the same ~100 MB app directory, the same base and the test bed's registry,
# in one run; plus the no-op rebuild, layer throughput against gzip -1, and peak memory on a
# 1 GB app directory. Prints a table.
#
# Usage: bench/build-vs-docker.sh [--no-build] [--size-mb N] [--big-mb N]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/var/tmp/slipway-bench}
SIZE_MB=100
BIG_MB=1024
BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) BUILD=0; shift ;;
    --size-mb) SIZE_MB=$2; shift 2 ;;
    --big-mb) BIG_MB=$2; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 64 ;;
  esac
done
log() { printf '>> %s\n' "$*" >&2; }

cd "$ROOT"
scripts/testbed.sh up >&2
# shellcheck disable=SC1090,SC1091
source "${SLIPWAY_TESTBED_DIR:-/var/tmp/slipway-testbed}/env"
if [ "$BUILD" = 1 ]; then cargo build --release -p slipway >&2; fi
SLIPWAY=${SLIPWAY_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/slipway}
REG=$SLIPWAY_TEST_REGISTRY
BASE="$REG/library/debian:bookworm-20251117-slim"
RUN_ID=$(date +%s)

# A project with one app of SIZE_MB of mixed files: source-like text and incompressible assets.
make_app() { # dir size_mb
  python3 - "$1" "$2" <<'PY'
import os, random, sys
root, size_mb = sys.argv[1], int(sys.argv[2])
rng = random.Random(42)
words = [("".join(rng.choice("abcdefghijklmnopqrstuvwxyz_") for _ in range(rng.randint(2, 10)))) for _ in range(5000)]
target = size_mb * 1024 * 1024
written = 0
i = 0
while written < target:
    i += 1
    sub = os.path.join(root, f"pkg{i % 40:02d}")
    os.makedirs(sub, exist_ok=True)
    if i % 5 == 0:
        data = rng.randbytes(min(1024 * 1024, target - written))
        name = os.path.join(sub, f"asset{i}.bin")
    else:
        text = " ".join(rng.choice(words) for _ in range(rng.randint(2000, 20000)))
        data = text.encode()[: target - written]
        name = os.path.join(sub, f"module{i}.py")
    with open(name, "wb") as f:
        f.write(data)
    written += len(data)
PY
}

project() { # dir name
  mkdir -p "$1/app/big"
  cat > "$1/slipway.toml" <<TOML
[project]
name = "$2"
registry = "team"
[registries.team]
url = "$REG"
[bases.debian]
dockerfile = "base/debian/Dockerfile"
image = "library/debian"
tags = ["bookworm-20251117-slim"]
[apps.big]
base = "debian"
dest = "/srv/app"
cmd = ["/bin/true"]
TOML
  printf 'FROM %s\nCOPY app/big /srv/app\nCMD ["/bin/true"]\n' "$BASE" > "$1/Dockerfile"
  printf '.slipway\n' > "$1/.dockerignore"
}

now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }

WORK=$BENCH_DIR/build-vs-docker
rm -rf "$WORK"; mkdir -p "$WORK"
P=$WORK/app
project "$P" "bench-$RUN_ID"
log "generating a ${SIZE_MB} MB app directory"
make_app "$P/app/big" "$SIZE_MB"
docker pull -q "$BASE" >/dev/null

# --- cold: nothing local, nothing in the registry's repository
log "slipway cold"
# The registry's own CPU while it takes the cold push: the part of the push no client can save.
REGISTRY_PID=$(pgrep -f 'docker-registry serve' | head -1 || true)
registry_cpu_ms() {
  if [ -n "$REGISTRY_PID" ]; then
    awk -v tck="$(getconf CLK_TCK)" '{ printf "%d", ($14 + $15) * 1000 / tck }' "/proc/$REGISTRY_PID/stat"
  else echo 0; fi
}
t0=$(now); (cd "$P" && SOURCE_DATE_EPOCH=1700000000 "$SLIPWAY" build >/dev/null); tb=$(now)
r0=$(registry_cpu_ms); (cd "$P" && "$SLIPWAY" push --tag cold >/dev/null); t1=$(now); r1=$(registry_cpu_ms)
SLIPWAY_COLD=$(ms "$t0" "$t1"); COLD_BUILD=$(ms "$t0" "$tb"); COLD_PUSH=$(ms "$tb" "$t1")
COLD_REGISTRY_CPU=$(( r1 - r0 )); COLD_BYTES=$(du -sb "$P/.slipway/oci/blobs" | cut -f1)
log "docker cold"
docker builder prune -af >/dev/null 2>&1 || true
t0=$(now); (cd "$P" && docker build -q --no-cache -t "$REG/dockerbench-$RUN_ID/big:cold" . >/dev/null && docker push -q "$REG/dockerbench-$RUN_ID/big:cold" >/dev/null); t1=$(now)
DOCKER_COLD=$(ms "$t0" "$t1")

# --- warm: one source file changed
echo "changed = 1" >> "$P/app/big/pkg01/module1.py"
log "slipway warm"
t0=$(now); (cd "$P" && SOURCE_DATE_EPOCH=1700000000 "$SLIPWAY" build >/dev/null && "$SLIPWAY" push --tag warm >/dev/null); t1=$(now)
SLIPWAY_WARM=$(ms "$t0" "$t1")
log "docker warm"
t0=$(now); (cd "$P" && docker build -q -t "$REG/dockerbench-$RUN_ID/big:warm" . >/dev/null && docker push -q "$REG/dockerbench-$RUN_ID/big:warm" >/dev/null); t1=$(now)
DOCKER_WARM=$(ms "$t0" "$t1")

# --- no-op: nothing changed
REGISTRY_LOG=${SLIPWAY_TESTBED_DIR:-/var/tmp/slipway-testbed}/logs/registry.log
requests() { grep -c "\"$1 /v2/bench-$RUN_ID/" "$REGISTRY_LOG" || true; }
HEADS_BEFORE=$(requests HEAD); PUTS_BEFORE=$(requests PUT); PATCHES_BEFORE=$(requests PATCH); POSTS_BEFORE=$(requests POST)
log "slipway no-op"
t0=$(now); NOOP_JSON=$(cd "$P" && SOURCE_DATE_EPOCH=1700000000 "$SLIPWAY" build >/dev/null && "$SLIPWAY" push --tag warm --output json); t1=$(now)
SLIPWAY_NOOP=$(ms "$t0" "$t1")
NOOP_BYTES=$(python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["bytes_uploaded"])' <<<"$NOOP_JSON")
NOOP_LAYERS=$(python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' <<<"$(cd "$P" && "$SLIPWAY" inspect big --output json | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["layers"]))')")
NOOP_HEADS=$(( $(requests HEAD) - HEADS_BEFORE )); NOOP_PUTS=$(( $(requests PUT) - PUTS_BEFORE ))
NOOP_UPLOADS=$(( $(requests POST) - POSTS_BEFORE + $(requests PATCH) - PATCHES_BEFORE ))
log "docker no-op"
t0=$(now); (cd "$P" && docker build -q -t "$REG/dockerbench-$RUN_ID/big:warm" . >/dev/null && docker push -q "$REG/dockerbench-$RUN_ID/big:warm" >/dev/null); t1=$(now)
DOCKER_NOOP=$(ms "$t0" "$t1")

# --- layer throughput: slipway's layer build (tar + gzip 1) vs tar | gzip -1 on the same bytes
rm -rf "$P/.slipway"
t0=$(now); (cd "$P" && SOURCE_DATE_EPOCH=1700000001 "$SLIPWAY" build >/dev/null); t1=$(now)
LAYER_MS=$(ms "$t0" "$t1")
t0=$(now); tar -C "$P/app/big" -cf - . | gzip -1 > /dev/null; t1=$(now)
GZIP_MS=$(ms "$t0" "$t1")
APP_BYTES=$(du -sb "$P/app/big" | cut -f1)

# --- peak memory on a BIG_MB directory
BIG=$WORK/big
project "$BIG" "bench-big-$RUN_ID"
log "generating a ${BIG_MB} MB app directory"
make_app "$BIG/app/big" "$BIG_MB"
PEAK_KB=$( (cd "$BIG" && SOURCE_DATE_EPOCH=1700000000 /usr/bin/time -f '%M' "$SLIPWAY" build 2>&1 >/dev/null) | tail -1)

ratio() { python3 -c "print(f'{$1 / max($2, 1):.2f}x')"; }
mbps() { python3 -c "print(f'{$1 / 1048576 / max($2, 1) * 1000:.1f}')"; }
printf '\nslipway build+push vs docker build+push, %s MB app on %s, registry %s\n' "$SIZE_MB" "$BASE" "$REG"
printf '%-34s %12s %12s %10s\n' "case" "slipway ms" "docker ms" "speed-up"
printf '%-34s %12s %12s %10s\n' "----" "----------" "---------" "--------"
printf '%-34s %12s %12s %10s\n' "cold (empty store and repository)" "$SLIPWAY_COLD" "$DOCKER_COLD" "$(ratio "$DOCKER_COLD" "$SLIPWAY_COLD")"
printf '%-34s %12s %12s %10s\n' "warm (one source file changed)" "$SLIPWAY_WARM" "$DOCKER_WARM" "$(ratio "$DOCKER_WARM" "$SLIPWAY_WARM")"
printf '%-34s %12s %12s %10s\n' "no-op (nothing changed)" "$SLIPWAY_NOOP" "$DOCKER_NOOP" "$(ratio "$DOCKER_NOOP" "$SLIPWAY_NOOP")"
printf '\ncold split: build %s ms, push %s ms (%s MB of blobs; the registry spent %s ms of CPU taking them)\n' \
  "$COLD_BUILD" "$COLD_PUSH" "$(( COLD_BYTES / 1048576 ))" "$COLD_REGISTRY_CPU"
printf 'no-op push: %s bytes uploaded; %s HEAD request(s) for %s layer(s) + config, %s upload session(s), %s PUT(s) (the manifest)\n' "$NOOP_BYTES" "$NOOP_HEADS" "$NOOP_LAYERS" "$NOOP_UPLOADS" "$NOOP_PUTS"
printf 'layer pipeline: slipway build %s ms (%s MB/s) vs tar | gzip -1 %s ms (%s MB/s): %s of gzip'"'"'s speed\n' \
  "$LAYER_MS" "$(mbps "$APP_BYTES" "$LAYER_MS")" "$GZIP_MS" "$(mbps "$APP_BYTES" "$GZIP_MS")" "$(ratio "$GZIP_MS" "$LAYER_MS")"
printf 'peak memory assembling a %s MB app directory: %s MB\n' "$BIG_MB" "$(( PEAK_KB / 1024 ))"
docker image rm -f "$REG/dockerbench-$RUN_ID/big:cold" "$REG/dockerbench-$RUN_ID/big:warm" >/dev/null 2>&1 || true
rm -rf "$WORK"
