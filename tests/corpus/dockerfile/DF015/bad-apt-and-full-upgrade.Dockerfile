# syntax=docker/dockerfile:1
FROM php:8.2.18-fpm-bookworm
# expect DF015
RUN apt update && apt upgrade -y && rm -rf /var/lib/apt/lists/*
# expect DF015
RUN <<EOF
set -eux
apt-get update
apt-get -y full-upgrade
rm -rf /var/lib/apt/lists/*
EOF

USER www-data
