FROM php:8.2.18-fpm-bookworm AS base
RUN docker-php-ext-install pdo_mysql opcache

# expect DF021
FROM base AS production
COPY . /var/www/html
USER www-data
