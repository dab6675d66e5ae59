FROM php:8.2.18-cli-bookworm
RUN curl -fsSLo /usr/local/bin/wp https://github.com/wp-cli/wp-cli/releases/download/v2.10.0/wp-cli-2.10.0.phar \
    && echo "4c6a93cecae7f499ca481fa7a6d6d4299c8b93214e5e5308e26770dbfd3631df  /usr/local/bin/wp" | sha256sum -c - \
    && chmod +x /usr/local/bin/wp
COPY --chown=www-data:www-data wp-content/ /var/www/html/wp-content/
USER www-data
