#!/bin/sh
# Writes the container's DNS server into nginx's resolver config, then runs the command.
set -eu
ns=$(awk '$1 == "nameserver" { print $2; exit }' /etc/resolv.conf 2>/dev/null || true)
case ${ns:-} in
  "") ns=127.0.0.11 ;;        # Docker's embedded DNS on user-defined networks
  *:*) ns="[$ns]" ;;          # IPv6 addresses need brackets
esac
printf 'resolver %s valid=2s;\n' "$ns" >/tmp/nginx-resolver.conf
exec "$@"
