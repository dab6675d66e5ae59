# An image name without ':' '/' or '@' cannot be told apart from a stage name typo.
FROM php:8.2.18-fpm-bookworm
# expect DF019
COPY --from=composer /usr/bin/composer /usr/local/bin/composer
COPY . /var/www/html
USER www-data
