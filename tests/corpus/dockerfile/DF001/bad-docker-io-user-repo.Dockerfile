# role: base
# docker.io/<user>/<repo> is a community image, not docker.io/library/<repo>.
# expect DF001
FROM docker.io/nginxinc/nginx-unprivileged:1.25-bookworm

COPY --chown=nginx:nginx nginx/default.conf /etc/nginx/conf.d/default.conf
EXPOSE 8080
