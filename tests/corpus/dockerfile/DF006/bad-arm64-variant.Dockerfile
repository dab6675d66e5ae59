ARG PHP_VERSION=8.2.18
# expect DF006
FROM --platform=linux/arm64/v8 php:${PHP_VERSION}-fpm-bookworm
RUN docker-php-ext-install -j"$(nproc)" pdo_mysql
USER www-data
