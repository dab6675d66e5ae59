# role: base
ARG NODE_VERSION=20.12
# expect DF001
FROM --platform=$BUILDPLATFORM cimg/node:${NODE_VERSION} AS toolchain
WORKDIR /opt/tools
COPY tools/package.json tools/package-lock.json ./
RUN npm ci --omit=dev

# expect DF001
FROM quay.io/shop-ops/python:3.12-slim
COPY --from=toolchain /opt/tools /opt/tools
ENV PATH=/opt/tools/node_modules/.bin:$PATH
USER 10001
