FROM node:20.12-bookworm-slim
# expect DF022
RUN apt-get update && apt-get install -y --no-install-recommends dumb-init && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . .
# expect DF022
RUN apt-get update \
    && apt-get install -yq --no-install-recommends \
        chromium \
        fonts-noto-color-emoji=2.042-0+deb12u1 \
    && rm -rf /var/lib/apt/lists/*
USER node
