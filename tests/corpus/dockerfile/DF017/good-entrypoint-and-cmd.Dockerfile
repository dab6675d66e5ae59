FROM php:8.2.18-fpm-bookworm
COPY docker/entrypoint.sh /usr/local/bin/entrypoint.sh
USER www-data
ENTRYPOINT ["/usr/local/bin/entrypoint.sh"]
CMD ["php-fpm"]
HEALTHCHECK --interval=30s CMD ["php-fpm-healthcheck"]
