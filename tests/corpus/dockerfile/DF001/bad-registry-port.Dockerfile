# role: base
# Mirror of nginx in the company registry is not the official image.
# expect DF001
FROM registry.shop.internal:5000/nginx:1.25.4-bookworm

COPY nginx/nginx.conf /etc/nginx/nginx.conf
COPY nginx/conf.d/ /etc/nginx/conf.d/
RUN chown -R nginx:nginx /var/cache/nginx
USER nginx
EXPOSE 8080
HEALTHCHECK CMD ["curl", "-fsS", "http://127.0.0.1:8080/healthz"]
