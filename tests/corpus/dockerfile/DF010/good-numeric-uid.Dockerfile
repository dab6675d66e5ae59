# role: app
FROM node:20.12-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build

FROM shop/base-nginx:1.25-3
COPY --from=build /app/dist /usr/share/nginx/html
USER 101:101
