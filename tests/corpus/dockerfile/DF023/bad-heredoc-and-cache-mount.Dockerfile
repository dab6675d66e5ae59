# syntax=docker/dockerfile:1
FROM python:3.12.3-slim-bookworm
# expect DF023
RUN --mount=type=cache,target=/root/.cache/pip <<EOF
set -eux
pip install -r /tmp/requirements.txt
pip install --user poetry
EOF

USER nobody
