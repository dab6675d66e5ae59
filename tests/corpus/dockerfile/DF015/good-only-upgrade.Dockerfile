FROM debian:bookworm-slim
# upgrading one named package via install is targeted, not a blanket upgrade
RUN apt-get update \
    && apt-get install -y --no-install-recommends --only-upgrade openssl=3.0.11-1~deb12u2 \
    && rm -rf /var/lib/apt/lists/*
USER nobody
