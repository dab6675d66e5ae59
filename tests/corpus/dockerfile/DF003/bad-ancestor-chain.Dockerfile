# role: app
# "runtime" is an ancestor of the final stage, so its FROM is checked.
# expect DF003
FROM php:8.2.18-fpm-bookworm AS runtime
RUN docker-php-ext-install -j"$(nproc)" pdo_mysql opcache

FROM node:20.12-bookworm-slim AS assets
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci
COPY resources/ resources/
RUN npm run build

FROM runtime AS final
COPY --chown=www-data:www-data . /var/www/html
COPY --from=assets /build/public/build /var/www/html/public/build
USER www-data
