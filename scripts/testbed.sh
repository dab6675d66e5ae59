#!/usr/bin/env bash
# slipway test bed: the real parts slipway's tests and examples run against, all on 127.0.0.1.
#
#   scripts/testbed.sh [up]          install what is missing, start what is not running (idempotent)
#   scripts/testbed.sh down [--purge] stop/remove what `up` created (--purge: also the debootstrap cache)
#   scripts/testbed.sh env           print the env file: eval "$(scripts/testbed.sh env)"
#   scripts/testbed.sh status        show what runs; exit 1 if something is missing
#
# What `up` provides:
#   - Docker Engine (Debian's docker.io): reuses any engine answering on /var/run/docker.sock,
#     otherwise starts `dockerd` in the background (log: $STATE/logs/dockerd.log).
#   - A distribution registry (Debian's docker-registry binary, own config, htpasswd/bcrypt auth)
#     on 127.0.0.1:$SLIPWAY_TESTBED_REGISTRY_PORT (default 5000), storage in $STATE/registry/data.
#   - A second distribution registry with bearer-token auth (the flow of GHCR, Docker Hub, GitLab,
#     Harbor) on 127.0.0.1:$SLIPWAY_TESTBED_TOKEN_REGISTRY_PORT (default 5001), storage in
#     $STATE/token-registry/data. It trusts tokens signed by $STATE/token-registry/signer.key
#     (RSA; certificate signer.crt is its rootcertbundle) for service slipway-testbed-token and
#     issuer slipway-testbed-token-issuer; the token server is the tests' own, on the realm
#     http://127.0.0.1:$SLIPWAY_TESTBED_TOKEN_REALM_PORT/token (default 5002).
#   - The official-image stand-in debian:bookworm-20251117-slim, made with
#     `debootstrap --variant=minbase` from the host's Debian mirror, imported into the engine and
#     pushed to the registry as 127.0.0.1:5000/library/debian:bookworm-20251117-slim.
#   - A second dockerd ("host two" of multi-host deploys) on unix://$STATE/run/docker2.sock,
#     tcp://127.0.0.1:2381 (TLS with client certificates from $STATE/tls) and ssh (sshd on
#     127.0.0.1:2222, alias slipway-host-two), with
#     its own data-root, exec-root, address pool and default bridge (slipway-br2), no iptables rules
#     (published ports go through docker-proxy), log $STATE/logs/docker2.log.
#   - moto_server (PyPI moto[server], pinned, in a venv at $STATE/moto-venv) on
#     127.0.0.1:$SLIPWAY_TESTBED_MOTO_PORT (default 5055): ECS, ELBv2, SSM, Secrets Manager, ECR.
#   - $STATE/env (SLIPWAY_TEST_REGISTRY, SLIPWAY_TEST_AWS_ENDPOINT, SLIPWAY_TEST_HOST2, SLIPWAY_TEST_REGISTRY_USER, SLIPWAY_TEST_REGISTRY_PASSWORD,
#     DOCKER_CONFIG, ...) and $STATE/docker-config/config.json with the registry credentials.
#
# Settings (environment):
#   SLIPWAY_TESTBED_DIR             state dir (default /var/tmp/slipway-testbed)
#   SLIPWAY_TESTBED_REGISTRY_PORT   registry port on 127.0.0.1 (default 5000)
#   SLIPWAY_TESTBED_TOKEN_REGISTRY_PORT  token-auth registry port on 127.0.0.1 (default 5001)
#   SLIPWAY_TESTBED_TOKEN_REALM_PORT     port the tests' token server listens on (default 5002)
#   SLIPWAY_TESTBED_MOTO_PORT       moto_server port on 127.0.0.1 (default 5055)
#   SLIPWAY_TESTBED_STORAGE_DRIVER  storage driver for a dockerd we start (default: overlay2 if the
#                                   kernel has overlayfs, else vfs)
#   SLIPWAY_TESTBED_DEBIAN_MIRROR   Debian mirror URL (default: read from the host's apt sources)
set -euo pipefail

STATE=${SLIPWAY_TESTBED_DIR:-/var/tmp/slipway-testbed}
PORT=${SLIPWAY_TESTBED_REGISTRY_PORT:-5000}
REGISTRY=127.0.0.1:${PORT}
REG_USER=slipway
TOKEN_PORT=${SLIPWAY_TESTBED_TOKEN_REGISTRY_PORT:-5001}
TOKEN_REGISTRY=127.0.0.1:${TOKEN_PORT}
TOKEN_REALM=http://127.0.0.1:${SLIPWAY_TESTBED_TOKEN_REALM_PORT:-5002}/token
TOKEN_SERVICE=slipway-testbed-token
TOKEN_ISSUER=slipway-testbed-token-issuer
DOCKER_SOCK=/var/run/docker.sock
HOST2_SOCK=$STATE/run/docker2.sock    # a second engine: "host two" for multi-host deploys
HOST2_BRIDGE=slipway-br2
HOST2_TCP=127.0.0.1:2381                # host two's API over TCP too: TLS, client certificates
SSH_ALIAS=slipway-host-two             # its name in ~/.ssh/config
SSH_PORT=2222                           # host two over ssh: an sshd on loopback whose only
                                        # command is `docker system dial-stdio` to host two
HOST2_POOL=10.231.0.0/16
DEBIAN_SUITE=bookworm
DEBIAN_TAG=bookworm-20251117-slim
DEBIAN_IMAGE=debian:${DEBIAN_TAG}
DEBIAN_REMOTE=${REGISTRY}/library/debian:${DEBIAN_TAG}
PACKAGES=(docker.io docker-registry debootstrap apache2-utils curl ca-certificates skopeo git iproute2
  openssh-server openssh-client openssl pebble)

CREATED=$STATE/created          # what `up` made: dockerd.pid, registry.pid, images
LOGS=$STATE/logs
CACHE=$STATE/cache
REGDIR=$STATE/registry
TOKDIR=$STATE/token-registry
ENV_FILE=$STATE/env
MOTO_VERSION=5.2.5
MOTO_PORT=${SLIPWAY_TESTBED_MOTO_PORT:-5055}
MOTO_VENV=$STATE/moto-venv
DOCKER_CFG_DIR=$STATE/docker-config
ROOTFS_TAR=$CACHE/debian-${DEBIAN_SUITE}-minbase-$(uname -m).tar.gz

log() { printf 'testbed: %s\n' "$*" >&2; }
die() { printf 'testbed: error: %s\n' "$*" >&2; exit 1; }

need_root() {
  [[ $(id -u) -eq 0 ]] || die "$1 needs root (run with sudo)"
}

# --- helpers ---------------------------------------------------------------------------------

# pid_is PID NAME: the process PID is alive and its command line mentions NAME.
pid_is() {
  local pid=$1 name=$2
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$name"
}

read_pid() { if [[ -s $1 ]]; then cat "$1"; fi; }

engine_ping() {
  curl -fsS --max-time 3 --unix-socket "$DOCKER_SOCK" http://localhost/_ping >/dev/null 2>&1
}

reg_password() { cat "$REGDIR/password"; }

# registry_status: prints the HTTP status of an authenticated GET /v2/ (000 when nothing answers).
registry_status() {
  local pw=${1:-}
  if [[ -n $pw ]]; then
    curl -s -o /dev/null -w '%{http_code}' --max-time 3 -u "$REG_USER:$pw" "http://$REGISTRY/v2/" || true
  else
    curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://$REGISTRY/v2/" || true
  fi
}

# registry_digest REPO TAG: digest of the manifest the registry holds for REPO:TAG (empty if none).
registry_digest() {
  curl -fsS -I --max-time 5 -u "$REG_USER:$(reg_password)" \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "http://$REGISTRY/v2/$1/manifests/$2" 2>/dev/null |
    tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest" {print $2}' || true
}

record_image() {
  mkdir -p "$CREATED"
  touch "$CREATED/images"
  grep -qxF -- "$1" "$CREATED/images" || printf '%s\n' "$1" >>"$CREATED/images"
}

# --- packages --------------------------------------------------------------------------------

ensure_packages() {
  local missing=() installed pkg
  # one dpkg-query for all: unknown packages print nothing (and make it exit 1)
  installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${PACKAGES[@]}" 2>/dev/null |
    awk '$2 == "installed" { print $1 }' || true)
  for pkg in "${PACKAGES[@]}"; do
    grep -qxF -- "$pkg" <<<"$installed" || missing+=("$pkg")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  need_root "installing ${missing[*]}"
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# --- Docker Engine ---------------------------------------------------------------------------

pick_storage_driver() {
  if [[ -n ${SLIPWAY_TESTBED_STORAGE_DRIVER:-} ]]; then
    echo "$SLIPWAY_TESTBED_STORAGE_DRIVER"
  elif grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null; then
    echo overlay2
  else
    echo vfs
  fi
}

ensure_engine() {
  local recorded
  recorded=$(read_pid "$CREATED/dockerd.pid")
  if [[ -n $recorded ]] && ! pid_is "$recorded" dockerd; then
    rm -f "$CREATED/dockerd.pid"   # stale record (reboot, killed by hand)
  fi
  if engine_ping; then
    return 0
  fi
  need_root "starting dockerd"
  local running="" pid
  for pid in $(pidof dockerd || true); do
    # host two's dockerd is not the first engine
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$HOST2_SOCK" || running+="$pid "
  done
  running=${running% }
  if [[ -z $running ]]; then
    local driver pidfile=$STATE/run/dockerd.pid
    driver=$(pick_storage_driver)
    mkdir -p "$LOGS" "$STATE/run" "$CREATED"
    rm -f "$pidfile"
    log "starting dockerd (storage driver $driver, log $LOGS/dockerd.log)"
    setsid -f dockerd --host "unix://$DOCKER_SOCK" --storage-driver "$driver" \
      --pidfile "$pidfile" </dev/null >>"$LOGS/dockerd.log" 2>&1 9>&-   # 9: the state lock
    local i
    for ((i = 0; i < 100; i++)); do
      [[ -s $pidfile ]] && break
      sleep 0.1
    done
    [[ -s $pidfile ]] || { tail -n 30 "$LOGS/dockerd.log" >&2; die "dockerd did not start"; }
    cp "$pidfile" "$CREATED/dockerd.pid"
  else
    log "dockerd (pid $running) is running but does not answer yet; waiting"
  fi
  local i
  for ((i = 0; i < 120; i++)); do
    engine_ping && return 0
    if [[ -z $running ]] && ! pid_is "$(read_pid "$CREATED/dockerd.pid")" dockerd; then
      tail -n 30 "$LOGS/dockerd.log" >&2
      die "dockerd exited; see $LOGS/dockerd.log"
    fi
    sleep 0.5
  done
  die "no Docker Engine answers on $DOCKER_SOCK after 60s (log: $LOGS/dockerd.log)"
}

# restore_docker0 ADDRESS: recreate the first engine's default bridge if it is gone.
restore_docker0() {
  [[ -n $1 ]] || return 0
  ip link show docker0 >/dev/null 2>&1 && return 0
  log "restoring docker0 ($1), removed by the second dockerd"
  ip link add docker0 type bridge
  ip addr add "$1" dev docker0
  ip link set docker0 up
}

host2_ping() {
  curl -fsS --max-time 3 --unix-socket "$HOST2_SOCK" http://localhost/_ping >/dev/null 2>&1
}

# A certificate authority, host two's server certificate (127.0.0.1) and a client certificate,
# laid out as DOCKER_CERT_PATH expects (ca.pem, cert.pem, key.pem).
ensure_tls_certificates() {
  local tls=$STATE/tls
  [[ -s $tls/client/key.pem && -s $tls/server-key.pem ]] && return 0
  mkdir -p "$tls/client"
  chmod 700 "$tls"
  (
    cd "$tls"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=slipway test bed CA" \
      -keyout ca-key.pem -out ca.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
      -keyout server-key.pem -out server.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 3650 \
      -extfile server.ext -out server-cert.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=slipway tests" \
      -keyout client/key.pem -out client.csr 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 3650 \
      -extfile client.ext -out client/cert.pem 2>/dev/null
    cp ca.pem client/ca.pem
  )
}

# Host two: a second engine on this machine, kept apart from the first (its own state, networks
# from another address pool, no iptables rules of its own).
ensure_second_engine() {
  host2_ping && return 0
  need_root "starting the second dockerd"
  local pidfile=$STATE/run/docker2.pid pid
  pid=$(read_pid "$pidfile")
  if [[ -n $pid ]] && pid_is "$pid" dockerd; then
    stop_pid "$pid" dockerd   # alive but not answering: start it again
  fi
  mkdir -p "$LOGS" "$STATE/run" "$STATE/docker2" "$CREATED"
  rm -f "$pidfile" "$HOST2_SOCK"
  # A dockerd whose bridge is not docker0 deletes docker0 when it starts: note the first
  # engine's bridge address to put it back.
  local docker0_address
  docker0_address=$(ip -4 -o addr show docker0 2>/dev/null | awk '{print $4}' | head -1)
  # Its own default bridge: `--bridge none` would make dockerd delete docker0, the first
  # engine's bridge.
  if ! ip link show "$HOST2_BRIDGE" >/dev/null 2>&1; then
    ip link add "$HOST2_BRIDGE" type bridge
    ip addr add 10.232.0.1/24 dev "$HOST2_BRIDGE"
  fi
  ip link set "$HOST2_BRIDGE" up
  # The first engine sets FORWARD's policy to DROP and bridged traffic passes iptables: let host
  # two's containers talk to each other on their networks.
  if command -v iptables >/dev/null 2>&1; then
    iptables -C FORWARD -s "$HOST2_POOL" -d "$HOST2_POOL" -j ACCEPT 2>/dev/null \
      || iptables -I FORWARD -s "$HOST2_POOL" -d "$HOST2_POOL" -j ACCEPT
  fi
  log "starting the second dockerd (log $LOGS/docker2.log)"
  ensure_tls_certificates
  local tls=$STATE/tls
  setsid -f dockerd --host "unix://$HOST2_SOCK" --host "tcp://$HOST2_TCP" \
    --tlsverify --tlscacert "$tls/ca.pem" --tlscert "$tls/server-cert.pem" --tlskey "$tls/server-key.pem" \
    --storage-driver "$(pick_storage_driver)" \
    --data-root "$STATE/docker2/data" --exec-root "$STATE/run/docker2-exec" \
    --pidfile "$pidfile" --bridge "$HOST2_BRIDGE" --iptables=false --ip6tables=false \
    --default-address-pool "base=$HOST2_POOL,size=24" \
    </dev/null >>"$LOGS/docker2.log" 2>&1 9>&-
  local i
  for ((i = 0; i < 120; i++)); do
    if host2_ping; then
      cp "$pidfile" "$CREATED/docker2.pid"
      restore_docker0 "$docker0_address"
      return 0
    fi
    sleep 0.5
  done
  tail -n 30 "$LOGS/docker2.log" >&2
  die "the second dockerd does not answer on $HOST2_SOCK (log: $LOGS/docker2.log)"
}

# Host two over ssh, as production hosts are reached: an sshd on 127.0.0.1:$SSH_PORT that takes
# this user's keys (one is made if there is none) and runs nothing but `docker system
# dial-stdio` against host two's engine.
ensure_ssh_host() {
  local dir=$STATE/sshd pidfile=$STATE/run/sshd.pid pid
  pid=$(read_pid "$pidfile")
  if [[ -n $pid ]] && pid_is "$pid" sshd; then
    return 0
  fi
  mkdir -p "$dir" "$STATE/run" /run/sshd
  chmod 700 "$dir"
  [[ -f $dir/host_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -f "$dir/host_ed25519"
  local home
  home=$(getent passwd "$(id -un)" | cut -d: -f6)
  if ! ls "$home"/.ssh/id_*.pub >/dev/null 2>&1; then
    mkdir -p "$home/.ssh"
    chmod 700 "$home/.ssh"
    ssh-keygen -q -t ed25519 -N '' -f "$home/.ssh/id_ed25519"
  fi
  local key
  : >"$dir/authorized_keys"
  for key in "$home"/.ssh/id_*.pub; do
    printf 'command="DOCKER_HOST=unix://%s exec docker system dial-stdio",no-pty,no-port-forwarding,no-agent-forwarding,no-X11-forwarding %s\n' \
      "$HOST2_SOCK" "$(cat "$key")" >>"$dir/authorized_keys"
  done
  printf '%s\n' "Port $SSH_PORT" "ListenAddress 127.0.0.1" "HostKey $dir/host_ed25519" \
    "AuthorizedKeysFile $dir/authorized_keys" "PermitRootLogin prohibit-password" \
    "PasswordAuthentication no" "KbdInteractiveAuthentication no" "UsePAM no" \
    "StrictModes no" "PidFile $pidfile" >"$dir/sshd_config"
  log "starting sshd on 127.0.0.1:$SSH_PORT (host two over ssh)"
  /usr/sbin/sshd -f "$dir/sshd_config" -E "$LOGS/sshd.log" 9>&-
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -s $pidfile ]] && break
    sleep 0.1
  done
  if [[ ! -s $pidfile ]]; then
    tail -n 20 "$LOGS/sshd.log" >&2
    die "sshd did not start (log: $LOGS/sshd.log)"
  fi
  cp "$pidfile" "$CREATED/sshd.pid"
  # An alias, because the engine client takes no port in ssh:// URLs (as with any host on a
  # port other than 22, ~/.ssh/config names it).
  local config=$home/.ssh/config
  if ! grep -qx "Host $SSH_ALIAS" "$config" 2>/dev/null; then
    printf '\n# slipway test bed: host two over ssh (scripts/testbed.sh)\nHost %s\n  HostName 127.0.0.1\n  Port %s\n' \
      "$SSH_ALIAS" "$SSH_PORT" >>"$config"
    chmod 600 "$config"
  fi
  # Its host key is known, so ssh connects without asking.
  local known=$home/.ssh/known_hosts entry
  entry="[127.0.0.1]:$SSH_PORT $(cut -d' ' -f1-2 "$dir/host_ed25519.pub")"
  grep -qxF "$entry" "$known" 2>/dev/null || {
    ssh-keygen -R "[127.0.0.1]:$SSH_PORT" -f "$known" >/dev/null 2>&1 || true
    printf '%s\n' "$entry" >>"$known"
  }
}

# --- registry --------------------------------------------------------------------------------

write_if_changed() { # write_if_changed FILE MODE < content; returns 0 if the file changed
  local file=$1 mode=$2 tmp
  tmp=$(mktemp "$file.XXXXXX")
  cat >"$tmp"
  chmod "$mode" "$tmp"
  if [[ -f $file ]] && cmp -s "$tmp" "$file"; then
    rm -f "$tmp"
    return 1
  fi
  mv -f "$tmp" "$file"
  return 0
}

ensure_registry() {
  mkdir -p "$REGDIR/data" "$LOGS" "$CREATED"
  if [[ ! -s $REGDIR/password ]]; then
    (umask 077 && head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32 >"$REGDIR/password")
    rm -f "$REGDIR/htpasswd"
    log "generated registry password for user $REG_USER ($REGDIR/password)"
  fi
  local pw changed=0
  pw=$(reg_password)
  if [[ ! -s $REGDIR/htpasswd ]]; then
    (umask 077 && printf '%s' "$pw" | htpasswd -iBc "$REGDIR/htpasswd" "$REG_USER" 2>/dev/null)
    changed=1
  fi
  if write_if_changed "$REGDIR/config.yml" 600 <<EOF; then changed=1; fi
# written by scripts/testbed.sh; the registry of the slipway test bed
version: 0.1
log:
  level: info
  fields:
    service: slipway-testbed-registry
storage:
  filesystem:
    rootdirectory: $REGDIR/data
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: $REGISTRY
  secret: $(printf '%s' "$pw" | sha256sum | cut -c1-32)
  headers:
    X-Content-Type-Options: [nosniff]
auth:
  htpasswd:
    realm: slipway-testbed
    path: $REGDIR/htpasswd
EOF

  local pid
  pid=$(read_pid "$CREATED/registry.pid")
  if [[ -n $pid ]] && pid_is "$pid" docker-registry; then
    if [[ $changed -eq 0 && $(registry_status "$pw") == 200 ]]; then
      return 0
    fi
    log "restarting the registry (pid $pid)"
    stop_pid "$pid" docker-registry
  fi
  rm -f "$CREATED/registry.pid"
  local code
  code=$(registry_status)
  if [[ $code != 000 ]] && systemctl is-active --quiet docker-registry 2>/dev/null; then
    # On a machine running systemd, installing the package starts its own unauthenticated
    # registry on :5000; the test bed needs the port for its own.
    log "stopping the docker-registry service that the Debian package started"
    systemctl disable --now docker-registry >/dev/null 2>&1 || true
    sleep 1
    code=$(registry_status)
  fi
  if [[ $code != 000 ]]; then
    die "something else answers on $REGISTRY (HTTP $code): stop it (e.g. 'systemctl disable --now docker-registry') or set SLIPWAY_TESTBED_REGISTRY_PORT"
  fi
  log "starting docker-registry on $REGISTRY (storage $REGDIR/data, log $LOGS/registry.log)"
  # shellcheck disable=SC2016 # $$ and $1/$2 are expanded by the inner shell
  setsid -f bash -c 'echo $$ >"$1"; exec docker-registry serve "$2"' _ \
    "$CREATED/registry.pid" "$REGDIR/config.yml" </dev/null >>"$LOGS/registry.log" 2>&1 9>&-
  local i
  for ((i = 0; i < 100; i++)); do
    [[ $(registry_status "$pw") == 200 ]] && return 0
    sleep 0.2
  done
  tail -n 20 "$LOGS/registry.log" >&2
  die "the registry does not answer on http://$REGISTRY/v2/ (log: $LOGS/registry.log)"
}

# token_registry_status: HTTP status of an anonymous GET /v2/ on the token registry (401 when up).
token_registry_status() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://$TOKEN_REGISTRY/v2/" || true
}

ensure_token_registry() {
  mkdir -p "$TOKDIR/data" "$LOGS" "$CREATED"
  local changed=0
  if [[ ! -s $TOKDIR/signer.key || ! -s $TOKDIR/signer.crt ]]; then
    log "generating the token signing key and certificate ($TOKDIR/signer.crt)"
    (umask 077 && openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=$TOKEN_ISSUER" \
      -keyout "$TOKDIR/signer.key" -out "$TOKDIR/signer.crt" 2>/dev/null) ||
      die "openssl could not make the token signing key"
    changed=1
  fi
  if write_if_changed "$TOKDIR/config.yml" 600 <<EOF; then changed=1; fi
# written by scripts/testbed.sh; the bearer-token registry of the slipway test bed
version: 0.1
log:
  level: info
  fields:
    service: slipway-testbed-token-registry
storage:
  filesystem:
    rootdirectory: $TOKDIR/data
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: $TOKEN_REGISTRY
  secret: $(sha256sum "$TOKDIR/signer.crt" | cut -c1-32)
  headers:
    X-Content-Type-Options: [nosniff]
auth:
  token:
    realm: $TOKEN_REALM
    service: $TOKEN_SERVICE
    issuer: $TOKEN_ISSUER
    rootcertbundle: $TOKDIR/signer.crt
EOF
  local pid
  pid=$(read_pid "$CREATED/token-registry.pid")
  if [[ -n $pid ]] && pid_is "$pid" docker-registry; then
    if [[ $changed -eq 0 && $(token_registry_status) == 401 ]]; then
      return 0
    fi
    log "restarting the token registry (pid $pid)"
    stop_pid "$pid" docker-registry
  fi
  rm -f "$CREATED/token-registry.pid"
  local code
  code=$(token_registry_status)
  [[ $code == 000 ]] ||
    die "something else answers on $TOKEN_REGISTRY (HTTP $code): stop it or set SLIPWAY_TESTBED_TOKEN_REGISTRY_PORT"
  log "starting the token registry on $TOKEN_REGISTRY (storage $TOKDIR/data, log $LOGS/token-registry.log)"
  # shellcheck disable=SC2016 # $$ and $1/$2 are expanded by the inner shell
  setsid -f bash -c 'echo $$ >"$1"; exec docker-registry serve "$2"' _ \
    "$CREATED/token-registry.pid" "$TOKDIR/config.yml" </dev/null >>"$LOGS/token-registry.log" 2>&1 9>&-
  local i
  for ((i = 0; i < 100; i++)); do
    [[ $(token_registry_status) == 401 ]] && return 0
    sleep 0.2
  done
  tail -n 20 "$LOGS/token-registry.log" >&2
  die "the token registry does not answer on http://$TOKEN_REGISTRY/v2/ (log: $LOGS/token-registry.log)"
}

# --- moto: the AWS APIs (ECS, ELBv2, SSM, Secrets Manager, ECR) on loopback -------------------

moto_status() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MOTO_PORT/moto-api/" 2>/dev/null || true; }

ensure_moto() {
  if [[ ! -x $MOTO_VENV/bin/moto_server ]] || ! "$MOTO_VENV/bin/pip" show moto 2>/dev/null | grep -qx "Version: $MOTO_VERSION"; then
    log "installing moto[server]==$MOTO_VERSION from PyPI into $MOTO_VENV"
    python3 -m venv "$MOTO_VENV"
    "$MOTO_VENV/bin/pip" install -q "moto[server]==$MOTO_VERSION" >>"$LOGS/moto-install.log" 2>&1 ||
      { tail -n 20 "$LOGS/moto-install.log" >&2; die "cannot install moto (log: $LOGS/moto-install.log)"; }
  fi
  local pid
  pid=$(read_pid "$CREATED/moto.pid")
  if [[ -n $pid ]] && pid_is "$pid" moto_server && [[ $(moto_status) == 200 ]]; then
    return 0
  fi
  [[ $(moto_status) == 000 ]] || die "something else answers on 127.0.0.1:$MOTO_PORT: stop it or set SLIPWAY_TESTBED_MOTO_PORT"
  log "starting moto_server on 127.0.0.1:$MOTO_PORT (log $LOGS/moto.log)"
  # New ECS services report two running tasks at once, so deploys reach a steady state.
  setsid -f bash -c 'echo $$ >"$1"; exec env MOTO_ECS_SERVICE_RUNNING=2 "$2" -H 127.0.0.1 -p "$3"' _ \
    "$CREATED/moto.pid" "$MOTO_VENV/bin/moto_server" "$MOTO_PORT" </dev/null >>"$LOGS/moto.log" 2>&1 9>&-
  local i
  for ((i = 0; i < 100; i++)); do
    [[ $(moto_status) == 200 ]] && return 0
    sleep 0.2
  done
  tail -n 20 "$LOGS/moto.log" >&2
  die "moto_server does not answer on 127.0.0.1:$MOTO_PORT (log: $LOGS/moto.log)"
}

write_client_config() {
  local pw auth
  pw=$(reg_password)
  auth=$(printf '%s:%s' "$REG_USER" "$pw" | base64 -w0)
  mkdir -p "$DOCKER_CFG_DIR"
  chmod 700 "$DOCKER_CFG_DIR"
  write_if_changed "$ENV_FILE" 600 <<EOF || true
# written by scripts/testbed.sh up: source it, or eval "\$(scripts/testbed.sh env)"
export SLIPWAY_TESTBED_DIR=$STATE
export SLIPWAY_TEST_REGISTRY=$REGISTRY
export SLIPWAY_TEST_REGISTRY_USER=$REG_USER
export SLIPWAY_TEST_REGISTRY_PASSWORD=$pw
export SLIPWAY_TEST_DEBIAN_IMAGE=$DEBIAN_IMAGE
export DOCKER_CONFIG=$DOCKER_CFG_DIR
export SLIPWAY_TEST_HOST2=unix://$HOST2_SOCK
export SLIPWAY_TEST_HOST2_TCP=tcp://$HOST2_TCP
export SLIPWAY_TEST_HOST2_CERT_PATH=$STATE/tls/client
export SLIPWAY_TEST_HOST2_SSH=ssh://$(id -un)@$SSH_ALIAS
export SLIPWAY_TEST_AWS_ENDPOINT=http://127.0.0.1:$MOTO_PORT
export SLIPWAY_TEST_TOKEN_REGISTRY=$TOKEN_REGISTRY
export SLIPWAY_TEST_TOKEN_REALM=$TOKEN_REALM
export SLIPWAY_TEST_TOKEN_SERVICE=$TOKEN_SERVICE
export SLIPWAY_TEST_TOKEN_ISSUER=$TOKEN_ISSUER
export SLIPWAY_TEST_TOKEN_KEY=$TOKDIR/signer.key
export SLIPWAY_TEST_TOKEN_CERT=$TOKDIR/signer.crt
EOF
  if [[ -f $DOCKER_CFG_DIR/config.json ]] && grep -qF "\"$auth\"" "$DOCKER_CFG_DIR/config.json"; then
    return 0
  fi
  write_if_changed "$DOCKER_CFG_DIR/config.json" 600 <<EOF || true
{
	"auths": {
		"$REGISTRY": {
			"auth": "$auth"
		}
	}
}
EOF
  log "docker login $REGISTRY (DOCKER_CONFIG=$DOCKER_CFG_DIR)"
  printf '%s' "$pw" | DOCKER_CONFIG=$DOCKER_CFG_DIR docker login --username "$REG_USER" --password-stdin "$REGISTRY" >/dev/null
}

# --- official-image stand-in -----------------------------------------------------------------

# host_mirror SUITE-REGEX: first URI of an enabled deb source of the host whose suites match.
host_mirror() {
  local want=$1 f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    awk -v want="$want" '
      BEGIN { RS = ""; FS = "\n" }
      {
        types = ""; uris = ""; suites = ""; enabled = "yes"
        for (i = 1; i <= NF; i++) {
          line = $i
          if (line ~ /^[ \t]*#/) continue
          key = tolower(line); sub(/:.*/, "", key)
          val = line; sub(/^[^:]*:[ \t]*/, "", val)
          if (key == "types") types = val
          else if (key == "uris") uris = val
          else if (key == "suites") suites = val
          else if (key == "enabled") enabled = tolower(val)
        }
        if (enabled == "no" || types !~ /(^| )deb( |$)/) next
        n = split(suites, s, /[ \t]+/)
        for (j = 1; j <= n; j++) if (s[j] ~ want) { split(uris, u, /[ \t]+/); print u[1]; exit }
      }' "$f"
  done
  local lists=()
  [[ -f /etc/apt/sources.list ]] && lists+=(/etc/apt/sources.list)
  for f in /etc/apt/sources.list.d/*.list; do [[ -f $f ]] && lists+=("$f"); done
  if [[ ${#lists[@]} -gt 0 ]]; then
    # deb [options] URI SUITE COMPONENTS...
    sed -E -e 's/\[[^]]*\]//' "${lists[@]}" |
      awk -v want="$want" '$1 == "deb" && $3 ~ want { print $2 }'
  fi
}

debian_mirror() {
  if [[ -n ${SLIPWAY_TESTBED_DEBIAN_MIRROR:-} ]]; then
    echo "$SLIPWAY_TESTBED_DEBIAN_MIRROR"
    return
  fi
  local m
  m=$(host_mirror "^${DEBIAN_SUITE}\$" | grep -E '/debian/?$' | head -n1 || true)
  [[ -n $m ]] || m=$(host_mirror "^${DEBIAN_SUITE}\$" | head -n1 || true)
  [[ -n $m ]] || die "no Debian $DEBIAN_SUITE mirror in /etc/apt/sources.list{,.d}; set SLIPWAY_TESTBED_DEBIAN_MIRROR"
  echo "${m%/}"
}

debian_security_mirror() {
  local m
  m=$(host_mirror "^${DEBIAN_SUITE}-security\$" | head -n1 || true)
  echo "${m%/}"
}

# Build the minbase rootfs tarball (once; cached in $CACHE across `up`/`down`).
ensure_rootfs_tar() {
  [[ -s $ROOTFS_TAR ]] && return 0
  need_root "debootstrap"
  local mirror security root
  mirror=$(debian_mirror)
  security=$(debian_security_mirror)
  mkdir -p "$CACHE" "$STATE/build"
  root=$(mktemp -d "$STATE/build/rootfs.XXXXXX")
  log "debootstrap --variant=minbase $DEBIAN_SUITE from $mirror (about a minute; log $LOGS/debootstrap.log)"
  if ! debootstrap --variant=minbase "$DEBIAN_SUITE" "$root" "$mirror" >"$LOGS/debootstrap.log" 2>&1; then
    tail -n 20 "$LOGS/debootstrap.log" >&2
    rm -rf "$root"
    die "debootstrap failed (log: $LOGS/debootstrap.log)"
  fi

  # apt inside the image uses the host's mirror, in the deb822 layout of the official image.
  rm -f "$root/etc/apt/sources.list"
  {
    printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\n' \
      "$mirror" "$DEBIAN_SUITE" "$DEBIAN_SUITE"
    printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
    if [[ -n $security ]]; then
      printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\n' "$security" "$DEBIAN_SUITE"
      printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
    fi
  } >"$root/etc/apt/sources.list.d/debian.sources"

  # "slim" the way the official -slim images are: no docs, man pages, locales; apt keeps no caches.
  cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/man/*
EOF
  cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  printf 'Acquire::Languages "none";\n' >"$root/etc/apt/apt.conf.d/docker-no-languages"
  printf 'Acquire::GzipIndexes "true";\n' >"$root/etc/apt/apt.conf.d/docker-gzip-indexes"
  printf 'Apt::AutoRemove::SuggestsImportant "false";\n' >"$root/etc/apt/apt.conf.d/docker-autoremove-suggests"
  local d
  for d in usr/share/doc usr/share/man usr/share/info usr/share/groff usr/share/linda \
    usr/share/lintian/overrides usr/share/locale; do
    [[ -d $root/$d ]] || continue
    find "$root/$d" \( -type f -o -type l \) ! -name copyright ! -name locale.alias -delete
  done
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root"/var/log/apt/* "$root"/var/log/bootstrap.log "$root"/var/log/dpkg.log \
    "$root"/var/log/alternatives.log "$root"/tmp/* "$root"/var/tmp/*
  rm -rf "${root:?}"/dev/* # the engine provides /dev; official images ship it empty
  : >"$root/etc/hostname"
  : >"$root/etc/resolv.conf"

  log "caching rootfs tarball $ROOTFS_TAR"
  tar --numeric-owner --sort=name -C "$root" -czf "$ROOTFS_TAR.tmp" .
  mv -f "$ROOTFS_TAR.tmp" "$ROOTFS_TAR"
  rm -rf "$root"
}

ensure_debian_image() {
  if ! docker image inspect "$DEBIAN_IMAGE" >/dev/null 2>&1; then
    ensure_rootfs_tar
    log "docker import $DEBIAN_IMAGE"
    docker import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'CMD ["bash"]' \
      --message "slipway test bed: debootstrap --variant=minbase $DEBIAN_SUITE" \
      "$ROOTFS_TAR" "$DEBIAN_IMAGE" >/dev/null
    record_image "$DEBIAN_IMAGE"
  fi
  local local_id remote_id=""
  local_id=$(docker image inspect --format '{{.Id}}' "$DEBIAN_IMAGE")
  remote_id=$(docker image inspect --format '{{.Id}}' "$DEBIAN_REMOTE" 2>/dev/null || true)
  if [[ $local_id != "$remote_id" ]]; then
    docker tag "$DEBIAN_IMAGE" "$DEBIAN_REMOTE"
    record_image "$DEBIAN_REMOTE"
  fi
  local digest
  digest=$(registry_digest library/debian "$DEBIAN_TAG")
  if [[ -n $digest ]] &&
    docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$DEBIAN_REMOTE" |
    grep -qxF "$REGISTRY/library/debian@$digest"; then
    return 0
  fi
  log "docker push $DEBIAN_REMOTE"
  DOCKER_CONFIG=$DOCKER_CFG_DIR docker push --quiet "$DEBIAN_REMOTE" >/dev/null
  digest=$(registry_digest library/debian "$DEBIAN_TAG")
  [[ -n $digest ]] || die "push of $DEBIAN_REMOTE did not reach the registry"
  log "pushed $DEBIAN_REMOTE ($digest)"
}

# --- subcommands -----------------------------------------------------------------------------

lock_state() {
  mkdir -p "$STATE"
  exec 9>"$STATE/.lock"
  flock 9
}

cmd_up() {
  local t0=$SECONDS
  lock_state
  ensure_packages
  ensure_engine
  ensure_second_engine
  ensure_ssh_host
  ensure_registry
  ensure_token_registry
  ensure_moto
  write_client_config
  ensure_debian_image
  log "up ($((SECONDS - t0))s): engine $DOCKER_SOCK, registry $REGISTRY, image $DEBIAN_IMAGE; env in $ENV_FILE"
}

stop_pid() { # stop_pid PID NAME: TERM, wait up to 30s, then KILL
  local pid=$1 name=$2 i
  pid_is "$pid" "$name" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do
    pid_is "$pid" "$name" || return 0
    sleep 0.1
  done
  log "$name (pid $pid) ignored SIGTERM; killing it"
  kill -KILL "$pid" 2>/dev/null || true
}

cmd_down() {
  local purge=0
  [[ ${1:-} == --purge ]] && purge=1
  [[ -d $STATE ]] || { log "nothing to do: $STATE does not exist"; return 0; }
  lock_state
  local pid img
  pid=$(read_pid "$CREATED/registry.pid")
  if [[ -n $pid ]] && pid_is "$pid" docker-registry; then
    log "stopping the registry (pid $pid)"
    stop_pid "$pid" docker-registry
  fi
  pid=$(read_pid "$CREATED/token-registry.pid")
  if [[ -n $pid ]] && pid_is "$pid" docker-registry; then
    log "stopping the token registry (pid $pid)"
    stop_pid "$pid" docker-registry
  fi
  pid=$(read_pid "$CREATED/moto.pid")
  if [[ -n $pid ]] && pid_is "$pid" moto_server; then
    log "stopping moto_server (pid $pid)"
    stop_pid "$pid" moto_server
  fi
  if [[ -s $CREATED/images ]]; then
    if engine_ping; then
      while read -r img; do
        [[ -n $img ]] || continue
        if docker image inspect "$img" >/dev/null 2>&1; then
          log "removing image $img"
          docker image rm "$img" >/dev/null || log "could not remove $img (still in use?)"
        fi
      done <"$CREATED/images"
    else
      log "no engine answers; cannot remove images: $(tr '\n' ' ' <"$CREATED/images")"
    fi
  fi
  pid=$(read_pid "$CREATED/sshd.pid")
  if [[ -n $pid ]] && pid_is "$pid" sshd; then
    log "stopping sshd (pid $pid)"
    stop_pid "$pid" sshd
  fi
  pid=$(read_pid "$CREATED/docker2.pid")
  if [[ -n $pid ]] && pid_is "$pid" dockerd; then
    log "stopping the second dockerd (pid $pid)"
    stop_pid "$pid" dockerd
  fi
  pid=$(read_pid "$CREATED/dockerd.pid")
  if [[ -n $pid ]] && pid_is "$pid" dockerd; then
    log "stopping dockerd (pid $pid; started by testbed up)"
    stop_pid "$pid" dockerd
  fi
  rm -rf "$CREATED" "$REGDIR" "$TOKDIR" "$DOCKER_CFG_DIR" "$ENV_FILE" "$STATE/run" "$STATE/build"
  if [[ $purge -eq 1 ]]; then
    case $STATE in
      / | /var | /var/tmp | /tmp | "$HOME") die "refusing to purge $STATE" ;;
    esac
    log "purging $STATE (including the debootstrap cache)"
    rm -rf "$STATE"
  else
    log "down; kept $CACHE and $LOGS (use 'down --purge' to remove them)"
  fi
}

cmd_env() {
  [[ -s $ENV_FILE ]] || die "$ENV_FILE missing: run scripts/testbed.sh up first"
  cat "$ENV_FILE"
}

cmd_status() {
  local rc=0 pid
  if engine_ping; then
    local info
    info=$(docker version --format 'server {{.Server.Version}}, API {{.Server.APIVersion}}' 2>/dev/null || true)
    pid=$(read_pid "$CREATED/dockerd.pid")
    if [[ -n $pid ]] && pid_is "$pid" dockerd; then
      info+=", started by testbed (pid $pid)"
    else
      info+=", not started by testbed"
    fi
    info+=", storage driver $(docker info --format '{{.Driver}}' 2>/dev/null || echo '?')"
    echo "engine:    up ($info)"
  else
    echo "engine:    DOWN ($DOCKER_SOCK)"
    rc=1
  fi
  pid=$(read_pid "$CREATED/registry.pid")
  if [[ -s $REGDIR/password && $(registry_status "$(reg_password)") == 200 ]]; then
    echo "registry:  up (http://$REGISTRY, user $REG_USER, pid ${pid:-?}, data $REGDIR/data)"
  else
    echo "registry:  DOWN ($REGISTRY)"
    rc=1
  fi
  if [[ $(token_registry_status) == 401 ]]; then
    echo "token reg: up (http://$TOKEN_REGISTRY, realm $TOKEN_REALM, pid $(read_pid "$CREATED/token-registry.pid"), data $TOKDIR/data)"
  else
    echo "token reg: DOWN ($TOKEN_REGISTRY)"
    rc=1
  fi
  if engine_ping && docker image inspect "$DEBIAN_IMAGE" >/dev/null 2>&1; then
    echo "image:     $DEBIAN_IMAGE in the engine"
  else
    echo "image:     $DEBIAN_IMAGE MISSING from the engine"
    rc=1
  fi
  local digest=""
  [[ -s $REGDIR/password ]] && digest=$(registry_digest library/debian "$DEBIAN_TAG")
  if [[ -n $digest ]]; then
    echo "registry:  $DEBIAN_REMOTE ($digest)"
  else
    echo "registry:  $DEBIAN_REMOTE MISSING"
    rc=1
  fi
  if [[ -s $ROOTFS_TAR ]]; then
    echo "cache:     $ROOTFS_TAR ($(du -h "$ROOTFS_TAR" | cut -f1))"
  else
    echo "cache:     no rootfs tarball yet"
  fi
  if [[ -s $ENV_FILE ]]; then echo "env:       $ENV_FILE"; else echo "env:       MISSING"; rc=1; fi
  return "$rc"
}

main() {
  local cmd=${1:-up}
  [[ $# -gt 0 ]] && shift
  case $cmd in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    env) cmd_env ;;
    status) cmd_status ;;
    -h | --help | help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' ;;
    *) die "unknown subcommand '$cmd' (up | down [--purge] | env | status)" ;;
  esac
}

main "$@"
