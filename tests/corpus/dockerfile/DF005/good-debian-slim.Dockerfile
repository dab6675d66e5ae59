# syntax=docker/dockerfile:1
FROM node:20.12-bookworm-slim AS build
WORKDIR /app
COPY package.json yarn.lock ./
RUN yarn install --frozen-lockfile
COPY . .
RUN yarn build

FROM nginx:1.25.4-bookworm
COPY --from=build /app/dist /usr/share/nginx/html
