# the HEALTHCHECK lives in a stage that is not an ancestor of the final one
FROM node:20.12-bookworm-slim AS dev
WORKDIR /app
COPY . .
RUN npm ci
HEALTHCHECK CMD ["node", "healthcheck.js"]
CMD ["npm", "run", "dev"]

FROM dev AS build
RUN npm run build

# expect DF021
FROM nginx:1.25.4-bookworm
COPY --from=build /app/dist /usr/share/nginx/html
USER nginx
