FROM node:20.12-bookworm-slim AS build
RUN npm i -g @angular/cli@17.3.0 \
    && yarn add @sentry/cli@2.31.0 \
    && npm install --save @types/node@20.12.7
RUN corepack enable && pnpm add @nestjs/cli@10.3.2
WORKDIR /app
COPY . .
RUN npm ci && npx ng build --configuration production

FROM nginx:1.25.4-bookworm
COPY --from=build /app/dist/shop /usr/share/nginx/html
