# role: base
# Composer vendor layer built from an in-house image, runtime from the official php image.
# expect DF001
FROM ghcr.io/acme/composer-builder:2.7 AS vendor
WORKDIR /build
COPY composer.json composer.lock ./
RUN composer install --no-dev --no-scripts --prefer-dist --no-interaction

FROM php:8.2.18-fpm-bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends libzip-dev=1.7.3-1+b1 \
    && docker-php-ext-install -j"$(nproc)" zip opcache pdo_mysql \
    && rm -rf /var/lib/apt/lists/*
COPY --from=vendor /build/vendor /usr/src/vendor
USER www-data
