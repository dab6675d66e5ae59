# role: app
FROM registry.shop.internal:5000/shop/base-nginx@sha256:ad5ba8809f9aaea1746a3c2d2306a0f06b4155e5302375d51ccb471e2e080678
COPY nginx/conf.d/ /etc/nginx/conf.d/
COPY public/ /usr/share/nginx/html/
USER nginx
