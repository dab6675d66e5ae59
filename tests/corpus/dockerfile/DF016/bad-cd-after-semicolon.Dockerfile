FROM debian:bookworm-slim
# expect DF016
RUN set -eux; \
    mkdir -p /usr/src/app; \
    cd /usr/src/app; \
    tar -xzf /tmp/app.tar.gz
USER nobody
