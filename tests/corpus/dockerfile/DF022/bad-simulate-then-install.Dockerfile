FROM debian:trixie-20251117-slim
# expect DF022
RUN apt-get update \
    && apt-get install -s --no-install-recommends curl \
    && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/*
USER nobody
