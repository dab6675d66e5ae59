# syntax=docker/dockerfile:1
FROM node:20.12-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci
COPY . .
RUN npm run build && npm install && npm install --production && npm i --omit=dev

FROM node:20.12-bookworm-slim
WORKDIR /app
COPY package.json yarn.lock pnpm-lock.yaml ./
RUN yarn install --frozen-lockfile \
    && corepack enable \
    && pnpm install --frozen-lockfile \
    && npm ci --omit=dev
COPY --from=build /app/dist ./dist
USER node
CMD ["node", "dist/server.js"]
