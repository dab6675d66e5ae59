FROM debian:bookworm-slim
# slipway-ignore DF022: ca-certificates must always be the newest available
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
USER nobody
