FROM php:8.2.18-fpm-bookworm
RUN docker-php-ext-install pdo_mysql
USER www-data
ENTRYPOINT ["docker-php-entrypoint"]
CMD ["php-fpm", "--nodaemonize"]
