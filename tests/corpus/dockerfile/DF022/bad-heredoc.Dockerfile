# syntax=docker/dockerfile:1
FROM python:3.12.3-slim-bookworm
# expect DF022
RUN <<EOF
set -eux
apt-get update
apt-get install -y --no-install-recommends libpq5
rm -rf /var/lib/apt/lists/*
EOF

USER nobody
