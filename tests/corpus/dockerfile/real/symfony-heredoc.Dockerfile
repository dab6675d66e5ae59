# syntax=docker/dockerfile:1
FROM php:8.2.18-fpm-bookworm AS php_base

COPY --from=ghcr.io/mlocati/php-extension-installer:2.2 /usr/bin/install-php-extensions /usr/local/bin/

RUN <<EOF
set -eux
apt-get update
apt-get install -y --no-install-recommends acl file gettext git
install-php-extensions apcu intl opcache zip pdo_pgsql
rm -rf /var/lib/apt/lists/*
EOF

COPY --link docker/php/conf.d/app.ini $PHP_INI_DIR/conf.d/
COPY --link --chmod=755 docker/php/docker-entrypoint.sh /usr/local/bin/docker-entrypoint
COPY --from=composer:2.7.2 /usr/bin/composer /usr/bin/composer

ENV COMPOSER_ALLOW_SUPERUSER=1
WORKDIR /srv/app

FROM php_base AS php_dev
ENV APP_ENV=dev XDEBUG_MODE=off
RUN mv "$PHP_INI_DIR/php.ini-development" "$PHP_INI_DIR/php.ini"
RUN install-php-extensions xdebug
CMD ["php-fpm"]

FROM php_base AS php_prod
ENV APP_ENV=prod
RUN mv "$PHP_INI_DIR/php.ini-production" "$PHP_INI_DIR/php.ini"
COPY --link composer.* symfony.* ./
RUN <<EOF
set -eux
composer install --no-cache --prefer-dist --no-dev --no-autoloader --no-scripts --no-progress
EOF

COPY --link . ./
RUN rm -Rf docker/
RUN <<EOF
set -eux
mkdir -p var/cache var/log
composer dump-autoload --classmap-authoritative --no-dev
composer dump-env prod
composer run-script --no-dev post-install-cmd
chmod +x bin/console
sync
EOF

ENTRYPOINT ["docker-entrypoint"]
HEALTHCHECK --start-period=60s CMD ["php-fpm-healthcheck"]
CMD ["php-fpm"]
