# expect DF025
FROM php:8.4.15-cli-trixie
RUN apt-get update && apt-get install -y --no-install-recommends tini=0.19.0-3 && apt-get dist-clean
COPY php-entrypoint.sh /usr/local/bin/php-entrypoint.sh
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/php-entrypoint.sh"]
CMD ["php", "artisan", "queue:work"]
