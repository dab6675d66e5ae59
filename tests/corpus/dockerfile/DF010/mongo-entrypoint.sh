#!/usr/bin/env bash
set -Eeo pipefail

docker_create_db_directories() {
	mkdir -p "$PGDATA"
	chmod 00700 "$PGDATA" || :
	if [ "$(id -u)" = '0' ]; then
		find "$PGDATA" \! -user mongodb -exec chown mongodb '{}' +
	fi
}

_main() {
	if [ "${1:0:1}" = '-' ]; then
		set -- mongodb "$@"
	fi
	if [ "$1" = 'mongodb' ]; then
		docker_create_db_directories
		if [ "$(id -u)" = '0' ]; then
			# then restart script as mongodb user
			exec gosu mongodb "$BASH_SOURCE" "$@"
		fi
	fi
	exec "$@"
}

_main "$@"
