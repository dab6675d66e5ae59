FROM debian:bookworm-20251117-slim
ARG WITH_CURL=1
# expect DF013
RUN if [ "$WITH_CURL" = 1 ]; then \
      apt-get update && apt-get install -y curl && rm -rf /var/lib/apt/lists/*; \
    fi
USER nobody
