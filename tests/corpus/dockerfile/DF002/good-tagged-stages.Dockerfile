# syntax=docker/dockerfile:1
FROM node:20.12-bookworm-slim AS assets
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY resources/ resources/
RUN npm run build

FROM php:8.2-fpm-bookworm AS app
COPY --from=assets /app/public/build /var/www/html/public/build

# a stage reference has no tag and must not be flagged
FROM app AS production
USER www-data
