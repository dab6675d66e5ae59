ARG PHP_VERSION=8.2
# expect DF004
FROM php:${PHP_VERSION}-fpm-bookworm
RUN docker-php-ext-install -j"$(nproc)" pdo_pgsql
USER www-data
