# syntax=docker/dockerfile:1
FROM --platform=$BUILDPLATFORM node:20.12-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build

FROM --platform=$TARGETPLATFORM nginx:1.25.4-bookworm
COPY --from=build /app/dist /usr/share/nginx/html
