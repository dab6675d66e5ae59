FROM php:8.4.15-fpm-trixie@sha256:0f1e5e0c64b31b4a3e43a7d3fc25e2b1e6b6a1d0b0b6b7b0c8e3f2a9d4c5b6a7 AS base
COPY --from=composer:2.8.12@sha256:0f1e5e0c64b31b4a3e43a7d3fc25e2b1e6b6a1d0b0b6b7b0c8e3f2a9d4c5b6a7 /usr/bin/composer /usr/local/bin/composer
FROM base
COPY --from=base /usr/local/bin/composer /usr/bin/composer
USER www-data
