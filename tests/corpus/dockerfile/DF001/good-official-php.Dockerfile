# role: base
# Shop PHP base: official php + official composer images only.
FROM composer:2.7.2 AS composer

FROM php:8.2.18-fpm-bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libicu-dev=72.1-3 \
        libzip-dev=1.7.3-1+b1 \
    && docker-php-ext-install -j"$(nproc)" intl zip opcache pdo_mysql \
    && rm -rf /var/lib/apt/lists/*
COPY --from=composer /usr/bin/composer /usr/local/bin/composer
COPY php/conf.d/ /usr/local/etc/php/conf.d/
USER www-data
