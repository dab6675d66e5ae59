FROM php:8.2.18-fpm-bookworm
COPY --from=composer:2.7.2 /usr/bin/composer /usr/local/bin/composer
COPY --from=ghcr.io/mlocati/php-extension-installer:2.2 /usr/bin/install-php-extensions /usr/local/bin/
COPY --from=nginx@sha256:1047b3d9918c63cd60744393ea55fb399018668c841a39ae653dd7e6d58317c0 /etc/nginx/mime.types /etc/mime.types
RUN install-php-extensions intl zip
COPY . /var/www/html
USER www-data
