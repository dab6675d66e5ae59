# Secret-looking keys declared empty: the value comes from the runtime environment.
FROM php:8.2.18-fpm-bookworm
ENV DB_PASSWORD=""
ENV APP_SECRET=
ENV APP_ENV=prod DB_HOST=mysql DB_USER=shop
COPY . /var/www/html
USER www-data
