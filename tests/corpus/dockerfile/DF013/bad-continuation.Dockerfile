FROM php:8.2.18-fpm-bookworm
# expect DF013
RUN apt-get update \
    && apt-get -y install \
        libfreetype6-dev=2.12.1+dfsg-5+deb12u3 \
        libjpeg62-turbo-dev=1:2.1.5-2 \
        libpng-dev=1.6.39-2 \
    && docker-php-ext-configure gd --with-freetype --with-jpeg \
    && docker-php-ext-install -j"$(nproc)" gd \
    && rm -rf /var/lib/apt/lists/*
USER www-data
