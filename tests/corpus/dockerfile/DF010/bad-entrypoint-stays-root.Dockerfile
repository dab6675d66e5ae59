# expect DF010
FROM php:8.4.15-cli-trixie
COPY php-plain-entrypoint.sh /usr/local/bin/
ENTRYPOINT ["php-plain-entrypoint.sh"]
CMD ["php", "-S", "0.0.0.0:8080"]
