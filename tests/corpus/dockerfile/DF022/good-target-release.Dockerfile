FROM debian:bookworm-slim
RUN echo "deb http://deb.debian.org/debian bookworm-backports main" > /etc/apt/sources.list.d/backports.list \
    && apt-get update \
    && apt-get install -y --no-install-recommends -t bookworm-backports nginx \
    && apt-get install -y --no-install-recommends --target-release bookworm-backports golang-go \
    && apt-get install --target-release=bookworm-backports -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*
USER nobody
