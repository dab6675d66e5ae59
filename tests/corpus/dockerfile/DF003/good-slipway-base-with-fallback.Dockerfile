# role: app
FROM ${SLIPWAY_BASE:-127.0.0.1:5000/shop/base-nginx:stable}
COPY public/ /srv/www/
