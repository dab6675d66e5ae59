FROM php:8.2.18-fpm-bookworm
USER root
RUN apt-get update \
    && apt-get install -y --no-install-recommends libzip-dev=1.7.3-1+b1 \
    && docker-php-ext-install zip \
    && rm -rf /var/lib/apt/lists/*
USER www-data
COPY --chown=www-data:www-data . /var/www/html
