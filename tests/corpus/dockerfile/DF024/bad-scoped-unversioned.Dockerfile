FROM node:20.12-bookworm-slim AS build
# a scope is not a version
# expect DF024
RUN npm i -g @angular/cli
WORKDIR /app
COPY . .
RUN npm ci && ng build --configuration production

FROM nginx:1.25.4-bookworm
COPY --from=build /app/dist/shop /usr/share/nginx/html
