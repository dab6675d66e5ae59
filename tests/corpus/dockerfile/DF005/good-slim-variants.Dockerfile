FROM composer:2.7.2 AS vendor
WORKDIR /build
COPY composer.json composer.lock ./
RUN composer install --no-dev --prefer-dist --no-interaction --no-scripts

FROM php:8.2.18-fpm-bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq-dev=15.6-0+deb12u1 \
    && docker-php-ext-install -j"$(nproc)" pdo_pgsql opcache \
    && rm -rf /var/lib/apt/lists/*
COPY --from=vendor /build/vendor /var/www/html/vendor
COPY . /var/www/html
USER www-data
