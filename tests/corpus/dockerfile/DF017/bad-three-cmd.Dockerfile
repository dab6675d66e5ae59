FROM node:20.12-bookworm-slim AS build
WORKDIR /app
COPY . .
RUN npm ci && npm run build

FROM node:20.12-bookworm-slim
WORKDIR /app
COPY --from=build /app/dist ./dist
CMD ["node", "dist/server.js"]
# expect DF017
CMD ["npm", "run", "start:prod"]
USER node
# expect DF017
CMD ["node", "--enable-source-maps", "dist/server.js"]
