FROM php:8.2.18-cli-bookworm
COPY . /var/www/html
# expect DF016
RUN cd /var/www/html && composer install --no-dev --optimize-autoloader
USER www-data
