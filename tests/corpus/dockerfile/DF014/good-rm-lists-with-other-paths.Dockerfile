FROM php:8.2.18-fpm-bookworm
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends libzip-dev=1.7.3-1+b1; \
    docker-php-ext-install zip; \
    rm -rf /var/lib/apt/lists/* /tmp/* /var/tmp/*
USER www-data
