FROM debian:bookworm-slim
# option values (-o ...) are not packages, but supervisor is unpinned
# expect DF022
RUN apt-get update \
    && apt-get -o Dpkg::Options::=--force-confold install -y --no-install-recommends supervisor \
    && rm -rf /var/lib/apt/lists/*
USER nobody
