FROM debian:trixie-20251117-slim
# expect DF014
RUN apt-get update \
    && apt-get install -s --no-install-recommends curl=8.14.1-2 \
    && apt-get install -y --no-install-recommends curl=8.14.1-2
USER nobody
