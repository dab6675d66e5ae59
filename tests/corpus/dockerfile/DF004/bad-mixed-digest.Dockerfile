FROM composer:2.7.2@sha256:83f2d7d12517c6e8c3a828e59e73bf625ef2f644849c6bc7733590490753acc0 AS vendor
WORKDIR /build
COPY composer.json composer.lock ./
RUN composer install --no-dev --prefer-dist --no-interaction

# expect DF004
FROM php:8.2.18-fpm-bookworm
COPY --from=vendor /build/vendor /var/www/html/vendor
COPY . /var/www/html
USER www-data
