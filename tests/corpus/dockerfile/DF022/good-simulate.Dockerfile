FROM debian:trixie-20251117-slim
# What would an install of the current versions change? A report, not an install.
RUN apt-get update \
    && apt-get install -y --no-install-recommends --dry-run curl wget | grep '^Inst' > /tmp/plan.txt \
    && rm -rf /var/lib/apt/lists/*
USER nobody
