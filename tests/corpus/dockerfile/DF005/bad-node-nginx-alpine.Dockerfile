# syntax=docker/dockerfile:1
# expect DF005
FROM node:20.12-alpine AS build
WORKDIR /app
COPY package.json yarn.lock ./
RUN yarn install --frozen-lockfile
COPY . .
RUN yarn build

# expect DF005
FROM nginx:1.25-alpine
COPY --from=build /app/dist /usr/share/nginx/html
