# Operations' nginx base image: official nginx, unprivileged port, tuned config.
FROM nginx:1.25.4-bookworm

RUN set -eux; \
    sed -i 's,listen       80;,listen       8080;,' /etc/nginx/conf.d/default.conf; \
    sed -i '/user  nginx;/d' /etc/nginx/nginx.conf; \
    sed -i 's,/var/run/nginx.pid,/tmp/nginx.pid,' /etc/nginx/nginx.conf; \
    chown -R nginx:0 /var/cache/nginx; \
    chmod -R g+w /var/cache/nginx

COPY nginx/nginx.conf /etc/nginx/nginx.conf
COPY nginx/snippets/ /etc/nginx/snippets/
COPY nginx/conf.d/ /etc/nginx/conf.d/

USER nginx
EXPOSE 8080
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=15s --timeout=3s CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
CMD ["nginx", "-g", "daemon off;"]
