FROM php:8.2.18-fpm-bookworm
ARG BUILD_DEPS="libicu-dev libzip-dev"
# the variable is fine, the literal libzip4 next to it is not
# expect DF022
RUN apt-get update \
    && apt-get install -y --no-install-recommends $BUILD_DEPS libzip4 \
    && docker-php-ext-install intl zip \
    && apt-get purge -y --auto-remove $BUILD_DEPS \
    && rm -rf /var/lib/apt/lists/*
USER www-data
