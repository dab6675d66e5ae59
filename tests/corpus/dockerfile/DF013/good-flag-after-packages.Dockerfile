FROM php:8.2.18-fpm-bookworm
RUN apt-get update \
    && apt-get install -y libicu-dev=72.1-3 --no-install-recommends \
    && docker-php-ext-install intl \
    && rm -rf /var/lib/apt/lists/*
USER www-data
