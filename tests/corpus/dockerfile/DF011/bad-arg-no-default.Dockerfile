# syntax=docker/dockerfile:1
FROM node:20.12-bookworm-slim AS build
# a build arg without a default still ends up in the image history
# expect DF011
ARG NPM_TOKEN
WORKDIR /app
COPY package.json package-lock.json ./
RUN echo "//registry.npmjs.org/:_authToken=${NPM_TOKEN}" > .npmrc \
    && npm ci \
    && rm -f .npmrc
COPY . .
RUN npm run build

FROM nginx:1.25.4-bookworm
COPY --from=build /app/dist /usr/share/nginx/html
