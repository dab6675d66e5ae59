# syntax=docker/dockerfile:1
FROM node:20.12-bookworm-slim AS Assets
WORKDIR /build
COPY . .
RUN npm ci && npm run build

FROM composer:2.7.2 AS vendor
WORKDIR /build
COPY composer.json composer.lock ./
RUN composer install --no-dev --prefer-dist --no-interaction

FROM php:8.2.18-fpm-bookworm
# stage names are case-insensitive
COPY --from=assets /build/public/build /var/www/html/public/build
COPY --from=1 /build/vendor /var/www/html/vendor
COPY . /var/www/html
USER www-data
