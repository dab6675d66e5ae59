# syntax=docker/dockerfile:1
FROM python:3.12.3-slim-bookworm
RUN <<EOF
set -eux
apt-get update
apt-get install -y --no-install-recommends libpq5=15.6-0+deb12u1 tini=0.19.0-1
rm -rf /var/lib/apt/lists/*
EOF

USER nobody
