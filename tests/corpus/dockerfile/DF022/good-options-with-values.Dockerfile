FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Options::="--force-confdef" \
        -o Dpkg::Options::="--force-confold" \
        postgresql-client-15=15.6-0+deb12u1 \
    && rm -rf /var/lib/apt/lists/*
USER nobody
