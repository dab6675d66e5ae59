# syntax=docker/dockerfile:1
FROM alpine:3.22.2
# expect DF027
RUN <<EOF
set -eu
apk add --no-cache -t .runtime-deps curl
EOF

USER nobody
