FROM debian:trixie-20251117-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates=20250419 \
    && rm -rf /var/lib/apt/lists
RUN apt-get update && apt-get install -y --no-install-recommends curl=8.14.1-2 \
    && rm -fr -- "/var/lib/apt/lists"/*
RUN apt-get update && apt-get install -y --no-install-recommends git=1:2.47.3-0+deb13u1 \
    && rm -rf /var/lib/apt/*
USER nobody
