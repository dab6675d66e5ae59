# syntax=docker/dockerfile:1
FROM node:20.12-bookworm-slim
WORKDIR /app
COPY package.json yarn.lock ./
RUN --mount=type=cache,target=/usr/local/share/.cache/yarn yarn install --frozen-lockfile
# expect DF024
RUN yarn add sharp
COPY . .
USER node
