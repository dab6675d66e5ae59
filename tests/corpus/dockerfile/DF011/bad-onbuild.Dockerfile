FROM php:8.4.15-fpm-trixie
# expect DF011
ONBUILD ENV APP_SECRET=3f9c2a61d8b04e7f
USER www-data
