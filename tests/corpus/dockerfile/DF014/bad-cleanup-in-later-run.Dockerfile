FROM php:8.2.18-fpm-bookworm
# the lists are already baked into this layer; deleting them later saves nothing
# expect DF014
RUN apt-get update \
    && apt-get install -y --no-install-recommends libzip-dev=1.7.3-1+b1 libicu-dev=72.1-3 \
    && docker-php-ext-install zip intl
RUN rm -rf /var/lib/apt/lists/*
USER www-data
