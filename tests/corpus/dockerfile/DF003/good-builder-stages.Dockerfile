# role: app
# node and composer stages are builders (not ancestors of the final stage): allowed.
FROM node:20.12-bookworm-slim AS assets
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci
COPY resources/ resources/
RUN npm run build

FROM composer:2.7.2 AS vendor
WORKDIR /build
COPY composer.json composer.lock ./
RUN composer install --no-dev --no-scripts --prefer-dist --no-interaction

FROM shop/base-nginx:1.25-3
COPY --from=assets /build/public/build /usr/share/nginx/html/build
COPY --from=vendor /build/vendor/shop/theme/public /usr/share/nginx/html/theme
USER nginx
