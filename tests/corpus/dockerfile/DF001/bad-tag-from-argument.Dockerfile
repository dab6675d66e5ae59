# role: base
ARG PHP_VERSION
# expect DF001
FROM bitnami/php-fpm:${PHP_VERSION}
USER 1001
