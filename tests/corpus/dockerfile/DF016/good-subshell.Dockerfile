FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl=7.88.1-10+deb12u5 ca-certificates=20230311 \
    && (cd /tmp && curl -fsSLO https://example.org/releases/tool-1.2.0.tar.gz && tar -xzf tool-1.2.0.tar.gz) \
    && rm -rf /var/lib/apt/lists/*
USER nobody
