FROM php:8.2.18-fpm-bookworm
RUN docker-php-ext-install -j"$(nproc)" opcache
COPY . /var/www/html
USER www-data
