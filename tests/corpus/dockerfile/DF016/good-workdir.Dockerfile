FROM php:8.2.18-cli-bookworm
WORKDIR /var/www/html
COPY . .
RUN composer install --no-dev --optimize-autoloader
USER www-data
