FROM composer:2.7.2 AS Vendor
WORKDIR /build
COPY composer.json composer.lock ./
RUN composer install --no-dev --prefer-dist

# expect DF020
FROM composer:2.7.2 AS vendor
WORKDIR /build
COPY composer.json composer.lock ./
RUN composer install --prefer-dist

FROM php:8.2.18-fpm-bookworm
COPY --from=vendor /build/vendor /var/www/html/vendor
USER www-data
