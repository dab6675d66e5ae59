FROM node:20.12-bookworm-slim AS build
WORKDIR /app
COPY . .
RUN npm ci && npm run build

FROM build AS build-prod
RUN npm prune --omit=dev

FROM nginx:1.25.4-bookworm AS runtime
COPY --from=build-prod /app/dist /usr/share/nginx/html
