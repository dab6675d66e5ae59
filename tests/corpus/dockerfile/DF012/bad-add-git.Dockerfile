# syntax=docker/dockerfile:1
FROM php:8.2.18-fpm-bookworm
WORKDIR /var/www/html
# expect DF012
ADD https://github.com/acme/shop-theme.git#v2.1.0 /var/www/html/themes/shop
# expect DF012
ADD git@github.com:acme/shop-plugins.git /var/www/html/custom/plugins
COPY . /var/www/html
USER www-data
