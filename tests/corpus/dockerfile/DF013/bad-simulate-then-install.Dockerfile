FROM debian:trixie-20251117-slim
# The dry run is fine; the real install that follows is not.
# expect DF013
RUN apt-get update \
    && apt-get install -s curl \
    && apt-get install -y curl \
    && rm -rf /var/lib/apt/lists/*
USER nobody
