# syntax=docker/dockerfile:1
FROM node:20.12-bookworm-slim AS build

WORKDIR /app
COPY package.json package-lock.json ./
# expect DF000
RUN <<SCRIPT
set -e
npm ci
npm run build
EOF

CMD ["node", "dist/server.js"]
