# syntax=docker/dockerfile:1
# note: hadolint 2.15.1 cannot parse a heredoc terminator directly followed by an instruction (valid for BuildKit)
FROM python:3.12.3-slim-bookworm
# expect DF013
RUN <<EOF
set -eux
apt-get update
apt-get install -y libpq5=15.6-0+deb12u1
rm -rf /var/lib/apt/lists/*
EOF
COPY . /srv/app
USER nobody
