FROM node:20.12-bookworm-slim
# apt-get clean empties /var/cache/apt, not /var/lib/apt/lists
# expect DF014
RUN apt-get update \
    && apt-get install -y --no-install-recommends dumb-init=1.2.5-2 \
    && apt-get clean \
    && rm -rf /var/cache/apt/archives/*
USER node
CMD ["dumb-init", "node", "server.js"]
