FROM nginx:1.25.4-bookworm
# ADD of a local archive (auto-extracted) is fine
ADD dist/storefront-dist.tar.gz /usr/share/nginx/html/
COPY nginx/default.conf /etc/nginx/conf.d/default.conf
