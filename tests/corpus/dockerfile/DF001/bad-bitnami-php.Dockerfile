# role: base
# PHP-FPM base image for the shop; ops builds it and pushes it to the private registry.
ARG PHP_VERSION=8.2
# expect DF001
FROM bitnami/php-fpm:${PHP_VERSION}-debian-12

RUN install_packages libicu72 libzip4 \
    && rm -rf /var/lib/apt/lists/*
COPY php/conf.d/ /opt/bitnami/php/etc/conf.d/
USER 1001
