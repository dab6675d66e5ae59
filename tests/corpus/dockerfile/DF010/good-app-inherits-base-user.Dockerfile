# role: app
# An app built on the project's base inherits the base's non-root USER, which DF010 checks in
# the base's own Dockerfile.
FROM node:20.12-bookworm-slim AS build
WORKDIR /home/node/app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build

FROM ${SLIPWAY_BASE}
COPY --from=build /home/node/app/build /srv/www
