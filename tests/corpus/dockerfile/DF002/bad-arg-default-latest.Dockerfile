ARG NGINX_IMAGE=nginx:latest
# expect DF002
FROM $NGINX_IMAGE
COPY conf.d/ /etc/nginx/conf.d/
COPY --chown=nginx:nginx static/ /usr/share/nginx/html/static/
