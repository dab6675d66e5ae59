# role: app
ARG SLIPWAY_BASE=shop/base-nginx:1.25-3
FROM $SLIPWAY_BASE
COPY --chown=nginx:nginx public/ /usr/share/nginx/html/
USER nginx
