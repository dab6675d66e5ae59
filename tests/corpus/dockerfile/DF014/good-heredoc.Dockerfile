# syntax=docker/dockerfile:1
FROM node:20.12-bookworm-slim
RUN <<EOF
set -eux
apt-get update
apt-get install -y --no-install-recommends dumb-init=1.2.5-2
rm -rf /var/lib/apt/lists/*
EOF

USER node
