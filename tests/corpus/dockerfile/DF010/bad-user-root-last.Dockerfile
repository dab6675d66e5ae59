FROM php:8.2.18-fpm-bookworm
RUN useradd --system --uid 10001 shop
USER shop
COPY --chown=shop:shop . /var/www/html
# switched back to root to fix permissions at runtime, and never switched back
# expect DF010
USER root
CMD ["php-fpm"]
