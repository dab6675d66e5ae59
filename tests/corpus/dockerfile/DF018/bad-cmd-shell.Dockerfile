FROM php:8.2.18-fpm-bookworm
COPY . /var/www/html
USER www-data
# expect DF018
CMD php-fpm
