# The builder drops privileges, the final stage never does.
FROM node:20.12-bookworm-slim AS build
USER node
WORKDIR /home/node/app
COPY --chown=node:node package.json package-lock.json ./
RUN npm ci
COPY --chown=node:node . .
RUN npm run build

# expect DF010
FROM nginx:1.25.4-bookworm
COPY --from=build /home/node/app/build /usr/share/nginx/html
EXPOSE 3000
