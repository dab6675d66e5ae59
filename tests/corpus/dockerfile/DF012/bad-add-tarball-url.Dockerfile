FROM nginx:1.25.4-bookworm
# expect DF012
ADD https://github.com/acme/storefront/releases/download/v3.4.0/storefront-dist.tar.gz /tmp/
RUN tar -xzf /tmp/storefront-dist.tar.gz -C /usr/share/nginx/html && rm /tmp/storefront-dist.tar.gz
