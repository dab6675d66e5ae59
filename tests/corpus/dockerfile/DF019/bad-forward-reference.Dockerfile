FROM php:8.2.18-fpm-bookworm AS app
# "assets" is defined later in the file, not earlier
# expect DF019
COPY --from=assets /build/public/build /var/www/html/public/build
COPY . /var/www/html

FROM node:20.12-bookworm-slim AS assets
WORKDIR /build
COPY . .
RUN npm ci && npm run build
