FROM nginx:1.25.4-bookworm AS web-base
HEALTHCHECK --interval=15s CMD curl -fsS http://127.0.0.1/healthz || exit 1

FROM node:20.12-bookworm-slim AS build
WORKDIR /app
COPY . .
RUN npm ci && npm run build

FROM web-base
COPY --from=build /app/dist /usr/share/nginx/html
