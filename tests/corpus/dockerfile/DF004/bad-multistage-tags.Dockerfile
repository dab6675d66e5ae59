# expect DF004
FROM node:20.12-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build

# a stage reference is not an image and is not flagged
FROM build AS test
RUN npm test

# expect DF004
FROM nginx:1.25.4-bookworm
COPY --from=build /app/dist /usr/share/nginx/html
