# syntax=docker/dockerfile:1
FROM node:20.12-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=npm_token \
    NPM_TOKEN="$(cat /run/secrets/npm_token)" \
    && echo "//registry.npmjs.org/:_authToken=${NPM_TOKEN}" > .npmrc \
    && npm ci \
    && rm -f .npmrc
COPY . .
RUN npm run build

FROM nginx:1.25.4-bookworm
COPY --from=build /app/dist /usr/share/nginx/html
