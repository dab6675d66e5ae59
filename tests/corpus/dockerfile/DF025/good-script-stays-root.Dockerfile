FROM php:8.4.15-cli-trixie
COPY plain-entrypoint.sh /usr/local/bin/
ENTRYPOINT ["plain-entrypoint.sh"]
CMD ["php", "-S", "0.0.0.0:8080"]
