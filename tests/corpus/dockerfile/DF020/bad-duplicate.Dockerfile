FROM node:20.12-bookworm-slim AS build
WORKDIR /app
COPY frontend/ .
RUN npm ci && npm run build

# expect DF020
FROM python:3.12.3-slim-bookworm AS build
WORKDIR /srv
COPY backend/ .
RUN pip wheel --wheel-dir /wheels .

FROM nginx:1.25.4-bookworm
COPY --from=build /app/dist /usr/share/nginx/html
