FROM php:8.2.18-fpm-bookworm

COPY docker/entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN chmod +x /usr/local/bin/docker-entrypoint.sh
USER www-data
# expect DF000
ENTRYPOINT ["docker-entrypoint.sh", \
            "php-fpm"
