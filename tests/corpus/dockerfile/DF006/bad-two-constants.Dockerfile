# syntax=docker/dockerfile:1
# expect DF006
FROM --platform=linux/amd64 node:20.12-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build

# expect DF006
FROM --platform=linux/arm64 nginx:1.25.4-bookworm
COPY --from=build /app/dist /usr/share/nginx/html
