FROM wordpress:6.5.2-php8.2-fpm

ADD https://github.com/wp-cli/wp-cli/releases/download/v2.10.0/wp-cli-2.10.0.phar /usr/local/bin/wp
RUN chmod +x /usr/local/bin/wp

RUN apt-get update && apt-get install -y --no-install-recommends \
        less \
        mariadb-client \
    && rm -rf /var/lib/apt/lists/*

COPY php/uploads.ini /usr/local/etc/php/conf.d/uploads.ini
COPY --chown=www-data:www-data wp-content/themes/ /usr/src/wordpress/wp-content/themes/
COPY --chown=www-data:www-data wp-content/plugins/ /usr/src/wordpress/wp-content/plugins/

ENV WORDPRESS_DB_HOST=mysql:3306 \
    WORDPRESS_DB_USER=wordpress \
    WORDPRESS_DB_NAME=wordpress
