FROM node:20.12-bookworm-slim AS build
WORKDIR /app
COPY . .
RUN npm ci && npm run build

FROM nginx:1.25.4-bookworm
# expect DF019
COPY --from=builder /app/dist /usr/share/nginx/html
