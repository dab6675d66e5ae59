FROM php:8.2.18-fpm-bookworm
ARG BUILD_DEPS="libicu-dev libzip-dev libpng-dev"
ARG RUNTIME_DEPS="libicu72 libzip4 libpng16-16"
ENV PKGS="ghostscript imagemagick"
RUN apt-get update \
    && apt-get install -y --no-install-recommends $BUILD_DEPS ${RUNTIME_DEPS} \
    && apt-get install -y --no-install-recommends "$PKGS" \
    && docker-php-ext-install intl zip gd \
    && apt-get purge -y --auto-remove $BUILD_DEPS \
    && rm -rf /var/lib/apt/lists/*
USER www-data
