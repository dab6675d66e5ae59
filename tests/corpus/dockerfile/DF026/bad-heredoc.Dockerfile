# syntax=docker/dockerfile:1
FROM debian:trixie-20251117-slim
# expect DF026
RUN <<EOF
set -eux
curl -fsSL https://example.org/key.asc | gpg --dearmor -o /usr/share/keyrings/example.gpg
EOF

# A SHELL with pipefail in a stage does not carry over to an unrelated stage.
FROM debian:trixie-20251117-slim AS other
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN dpkg -l | grep '^ii' > /packages.txt

FROM debian:trixie-20251117-slim
# expect DF026
RUN dpkg -l | grep '^ii' > /packages.txt
USER nobody
