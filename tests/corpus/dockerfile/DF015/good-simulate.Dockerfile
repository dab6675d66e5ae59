FROM debian:trixie-20251117-slim
# Lists the pending security updates in the build log; upgrades nothing.
RUN apt-get update \
    && apt-get -s dist-upgrade | grep '^Inst' || true \
    && apt-get upgrade --simulate \
    && rm -rf /var/lib/apt/lists/*
USER nobody
