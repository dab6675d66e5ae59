# syntax=docker/dockerfile:1
FROM debian:bookworm-slim
# expect DF014
RUN <<EOF
set -eux
apt-get update
apt-get install -y --no-install-recommends nginx=1.22.1-9
EOF

USER www-data
