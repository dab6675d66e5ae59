#!/usr/bin/env bash
# Benchmark deploys to ECS against the test bed's moto_server, in one run, and print a table:
#   - wall time of `slipway deploy` (rolling, then blue-green) and `slipway rollback`;
#   - the time spent inside AWS calls (measured by a recording front between slipway and moto)
#     and slipway's own overhead (the rest: config, image checks and push, its own work);
#   - the AWS API calls each command made, by operation.
#
# Usage: bench/ecs.sh [--no-build]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/var/tmp/slipway-bench}
BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) BUILD=0; shift ;;
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
PYTHON=$SLIPWAY_TESTBED_DIR/moto-venv/bin/python

WORK=$BENCH_DIR/ecs
rm -rf "$WORK"; mkdir -p "$WORK"
cp -r examples/shop "$WORK/shop"
P=$WORK/shop
rm -rf "$P/.slipway" "$P/slipway.lock"
NAME=benchecs$(date +%s)
AWS=$("$PYTHON" crates/slipway/tests/it/aws/moto.py setup "$NAME")
python3 - "$P" "$NAME" "$AWS" <<'PY'
import json, sys
root, name, aws = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
path = root + "/slipway.toml"
text = open(path).read().replace('name = "shop"', 'name = "%s"' % name)
text += '''
[environments.aws]
registry = "team"
apps = ["api"]
strategy = { kind = "rolling" }
replicas = { api = 2 }
secrets = { DB_PASSWORD = "ssm:%s", STRIPE_KEY = "secretsmanager:%s/stripe" }

[environments.aws.target]
kind = "ecs"
cluster = "%s"
region = "eu-central-1"
subnets = %s
security_groups = ["%s"]
execution_role_arn = "arn:aws:iam::123456789012:role/%s-execution"
log_group = "/ecs/%s"

[environments.aws.target.apps.api]
listener = "%s"
target_groups = %s
''' % (aws["parameter"], name, name, json.dumps(aws["subnets"]), aws["security_group"], name, name,
       aws["listener"], json.dumps(aws["target_groups"][:1]))
open(path, "w").write(text)
import os
os.makedirs(root + "/config/aws", exist_ok=True)
open(root + "/config/aws/api.env.j2", "w").write(
    "DB_PASSWORD={{ secret.DB_PASSWORD }}\nSTRIPE_KEY={{ secret.STRIPE_KEY }}\nAPP_ENV={{ environment }}\nGREETING={{ vars.GREETING }}\n")
open(root + "/config/aws/values.toml", "w").write('GREETING = "one"\n')
PY
(cd "$P" && git init -q && git add -A && git -c user.email=b@x -c user.name=b commit -qm bench)
run() { (cd "$P" && "$SLIPWAY" "$@"); }
log "bases and the api image"
run base release >/dev/null 2>&1
run base update >/dev/null
run build api >/dev/null
run push api --registry team >/dev/null

# The recording front: forwards to moto, appends "operation seconds" per call to $CALLS.
CALLS=$WORK/calls
FRONT_PORT=18455
"$PYTHON" - "$FRONT_PORT" "$SLIPWAY_TEST_AWS_ENDPOINT" "$CALLS" <<'PY' &
import http.client, http.server, sys, time, urllib.parse
port, upstream, calls = int(sys.argv[1]), urllib.parse.urlparse(sys.argv[2]), sys.argv[3]
class Front(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args): pass
    def forward(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        operation = (self.headers.get("X-Amz-Target") or "").rsplit(".", 1)[-1]
        if not operation and body:
            operation = dict(urllib.parse.parse_qsl(body.decode())).get("Action", "?")
        started = time.monotonic()
        connection = http.client.HTTPConnection(upstream.hostname, upstream.port)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
        connection.request(self.command, self.path, body=body, headers=headers)
        answer = connection.getresponse()
        data = answer.read()
        with open(calls, "a") as out:
            out.write("%s %.6f\n" % (operation, time.monotonic() - started))
        self.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    do_GET = do_POST = do_PUT = do_DELETE = forward
http.server.ThreadingHTTPServer(("127.0.0.1", port), Front).serve_forever()
PY
FRONT_PID=$!
trap 'kill $FRONT_PID 2>/dev/null || true' EXIT
sleep 1
export AWS_ENDPOINT_URL=http://127.0.0.1:$FRONT_PORT AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
  AWS_EC2_METADATA_DISABLED=true

now() { date +%s%N; }
ROWS=()
measure() { # measure LABEL ARGS...
  local label=$1; shift
  : > "$CALLS"
  local t0 t1
  t0=$(now); run "$@" >/dev/null 2>"$WORK/last.err" || { cat "$WORK/last.err" >&2; exit 1; }; t1=$(now)
  local wall_ms=$(( (t1 - t0) / 1000000 ))
  local aws_ms calls ops
  aws_ms=$(awk '{s += $2} END {printf "%d", s * 1000}' "$CALLS")
  calls=$(wc -l < "$CALLS")
  ops=$(awk '{print $1}' "$CALLS" | sort | uniq -c | awk '{printf "%s %s, ", $2, $1}' | sed 's/, $//')
  ROWS+=("$(printf '%-34s %8s %8s %10s %6s  %s' "$label" "$wall_ms" "$aws_ms" "$((wall_ms - aws_ms))" "$calls" "$ops")")
}
log "rolling: first deploy, second deploy, rollback"
measure "deploy rolling (creates the service)" deploy aws --yes
sed -i 's/GREETING = "one"/GREETING = "two"/' "$P/config/aws/values.toml"
measure "deploy rolling (second release)" deploy aws --yes
measure "rollback (rolling)" rollback aws
log "blue-green"
python3 - "$P/slipway.toml" "$AWS" <<'PY'
import json, sys
path, aws = sys.argv[1], json.loads(sys.argv[2])
text = open(path).read().replace('strategy = { kind = "rolling" }', 'strategy = { kind = "blue-green" }')
text = text.replace("target_groups = %s" % json.dumps(aws["target_groups"][:1]), "target_groups = %s" % json.dumps(aws["target_groups"]))
open(path, "w").write(text)
PY
measure "deploy blue-green (first colour)" deploy aws --yes
sed -i 's/GREETING = "two"/GREETING = "three"/' "$P/config/aws/values.toml"
measure "deploy blue-green (switch colour)" deploy aws --yes
measure "rollback (blue-green)" rollback aws

printf '\nslipway on ECS (moto_server on loopback), one app with 2 tasks\n'
printf '%-34s %8s %8s %10s %6s  %s\n' "command" "wall ms" "AWS ms" "own ms" "calls" "calls by operation"
for row in "${ROWS[@]}"; do printf '%s\n' "$row"; done
