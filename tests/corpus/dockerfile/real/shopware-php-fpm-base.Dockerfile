# syntax=docker/dockerfile:1
# Operations' PHP base image for the Shopware shop (pushed to the private registry).
ARG PHP_VERSION=8.2.18
FROM php:${PHP_VERSION}-fpm-bookworm

ENV COMPOSER_HOME=/tmp/composer \
    COMPOSER_ALLOW_SUPERUSER=0 \
    PHP_OPCACHE_VALIDATE_TIMESTAMPS=0

RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt,sharing=locked \
    set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends \
        libfreetype6-dev=2.12.1+dfsg-5+deb12u3 \
        libicu-dev=72.1-3 \
        libjpeg62-turbo-dev=1:2.1.5-2 \
        libpng-dev=1.6.39-2 \
        libwebp-dev=1.2.4-0.2+deb12u1 \
        libzip-dev=1.7.3-1+b1 \
        unzip=6.0-28; \
    docker-php-ext-configure gd --with-freetype --with-jpeg --with-webp; \
    docker-php-ext-install -j"$(nproc)" bcmath gd intl opcache pdo_mysql zip; \
    pecl install redis-6.0.2 apcu-5.1.23; \
    docker-php-ext-enable redis apcu

COPY --from=composer:2.7.2 /usr/bin/composer /usr/local/bin/composer
COPY php/conf.d/ /usr/local/etc/php/conf.d/
COPY php/php-fpm.d/zz-shop.conf /usr/local/etc/php-fpm.d/zz-shop.conf
COPY --chmod=0755 php/php-fpm-healthcheck /usr/local/bin/php-fpm-healthcheck

WORKDIR /var/www/html
USER www-data
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD ["php-fpm-healthcheck"]
EXPOSE 9000
CMD ["php-fpm"]
