FROM node:20.12-bookworm-slim
ARG NPM_PACKAGES
ARG EXTRA_PACKAGES="left-pad@1.3.0"
WORKDIR /app
COPY . .
RUN npm install ./packages/ui \
    && npm install ../shared/shop-sdk \
    && npm install /tmp/shop-analytics-1.2.0.tgz \
    && npm install vendor/legacy-widget.tar.gz \
    && npm install git+https://github.com/acme/shop-icons.git#v2.0.1 \
    && npm install https://registry.shop.internal/shop-theme/-/shop-theme-3.1.0.tgz \
    && npm install "$NPM_PACKAGES" \
    && yarn add ${EXTRA_PACKAGES}
USER node
