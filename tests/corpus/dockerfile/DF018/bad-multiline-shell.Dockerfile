FROM node:20.12-bookworm-slim
WORKDIR /app
COPY . .
USER node
# expect DF018
CMD node dist/migrate.js \
    && node dist/server.js
