FROM node:20.12-bookworm-slim
# the first install is fine, the second one is not
# expect DF013
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates=20230311 \
    && apt-get install -y chromium=124.0.6367.60-1~deb12u1 \
    && rm -rf /var/lib/apt/lists/*
USER node
