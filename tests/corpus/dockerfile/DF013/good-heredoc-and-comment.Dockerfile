# syntax=docker/dockerfile:1
FROM debian:bookworm-slim AS tools
RUN apt-get update \
    # tools used by the healthcheck and the entrypoint
    && apt-get install -y --no-install-recommends curl=7.88.1-10+deb12u5 tini=0.19.0-1 \
    && rm -rf /var/lib/apt/lists/*

FROM tools
RUN <<EOF
set -eux
apt-get update
apt-get install --no-install-recommends -y jq=1.6-2.1
rm -rf /var/lib/apt/lists/*
EOF

USER nobody
