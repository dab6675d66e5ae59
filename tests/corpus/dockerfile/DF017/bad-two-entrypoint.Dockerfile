FROM php:8.2.18-fpm-bookworm
COPY docker/entrypoint.sh /usr/local/bin/entrypoint.sh
ENTRYPOINT ["docker-php-entrypoint"]
COPY docker/wait-for-db.sh /usr/local/bin/wait-for-db.sh
# expect DF017
ENTRYPOINT ["/usr/local/bin/entrypoint.sh"]
USER www-data
CMD ["php-fpm"]
