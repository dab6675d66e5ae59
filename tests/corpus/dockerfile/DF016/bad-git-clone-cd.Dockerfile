FROM node:20.12-bookworm-slim AS build
# expect DF016
RUN git clone --depth 1 --branch v3.4.0 https://github.com/acme/storefront.git /src \
    && cd /src \
    && npm ci \
    && npm run build

FROM nginx:1.25.4-bookworm
COPY --from=build /src/dist /usr/share/nginx/html
