FROM debian:trixie-20251117-slim
# Dry runs only print what apt would do.
RUN apt-get update \
    && apt-get install -s curl > /tmp/curl-plan.txt \
    && apt-get --simulate install wget \
    && apt-get install --dry-run git \
    && apt-get install --just-print make \
    && apt-get -qs install gcc \
    && apt-get -o APT::Get::Simulate=true install vim \
    && apt-get install --no-act --recon less \
    && rm -rf /var/lib/apt/lists/*
USER nobody
