# syntax=docker/dockerfile:1
# expect DF002
FROM --platform=$BUILDPLATFORM node:latest AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci
COPY . .
RUN npm run build

# expect DF002
FROM nginx:latest
COPY --from=build /app/dist /usr/share/nginx/html
COPY nginx/default.conf /etc/nginx/conf.d/default.conf
