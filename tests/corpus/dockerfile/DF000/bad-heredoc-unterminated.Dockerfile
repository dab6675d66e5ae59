# syntax=docker/dockerfile:1
FROM debian:bookworm-slim

# expect DF000
RUN <<EOF
set -eux
apt-get update
apt-get install -y --no-install-recommends ca-certificates=20230311
rm -rf /var/lib/apt/lists/*

CMD ["bash"]
