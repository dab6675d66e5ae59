#!/bin/bash
# Entry point of the shop's database container (runs as `postgres`).
# First start (empty $PGDATA): initdb, create role `app` with password $DB_PASSWORD (or the
# contents of the file $DB_PASSWORD_FILE) and database `shop` owned by it. Every start: run
# PostgreSQL listening on all container addresses.
set -euo pipefail

PGDATA=${PGDATA:-/var/lib/postgresql/data}
export PGDATA

log() { printf 'db-entrypoint: %s\n' "$*" >&2; }

if [[ ${1:-} != postgres ]]; then
  exec "$@"                     # e.g. `psql ...` or `bash` for a one-off container
fi
shift

if [[ ! -s $PGDATA/PG_VERSION ]]; then
  # Or from a file, as Docker secrets and slipway's `secret_files` deliver it (/run/secrets/...).
  if [[ -n ${DB_PASSWORD_FILE:-} ]]; then
    if [[ -n ${DB_PASSWORD:-} ]]; then
      log "both DB_PASSWORD and DB_PASSWORD_FILE are set: set only one"
      exit 1
    fi
    DB_PASSWORD=$(<"$DB_PASSWORD_FILE")
  fi
  if [[ -z ${DB_PASSWORD:-} ]]; then
    log "DB_PASSWORD is empty: set it (config/<env>/db.env.j2) to initialise the database"
    exit 1
  fi
  if [[ ! -w $PGDATA ]]; then
    log "$PGDATA is not writable by $(id -un) (uid $(id -u)); use a named volume or chown it"
    exit 1
  fi
  log "initialising $PGDATA"
  initdb --pgdata="$PGDATA" --username=postgres --encoding=UTF8 --locale=C.UTF-8 \
    --auth-local=peer --auth-host=scram-sha-256 >/dev/null
  cat >"$PGDATA/pg_hba.conf" <<'HBA'
# TYPE  DATABASE  USER      ADDRESS   METHOD
local   all       postgres            peer
local   all       all                 scram-sha-256
host    all       all       all       scram-sha-256
HBA
  # A server only on a private socket: health checks (default socket) stay red until init is done.
  sock=$(mktemp -d)
  pg_ctl --pgdata="$PGDATA" --wait --silent \
    -o "-c listen_addresses='' -c unix_socket_directories=$sock" start
  psql --host="$sock" --username=postgres --dbname=postgres --no-psqlrc --quiet \
    --set=ON_ERROR_STOP=1 --set=password="$DB_PASSWORD" <<'SQL'
CREATE ROLE app LOGIN PASSWORD :'password';
CREATE DATABASE shop OWNER app;
SQL
  pg_ctl --pgdata="$PGDATA" --wait --silent --mode=fast stop
  rmdir "$sock"
  log "database shop and role app created"
fi

exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
