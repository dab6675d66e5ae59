FROM node:22.21.1-bookworm-slim
WORKDIR /app
COPY --chown=node:node . .
USER node
CMD ["node", "server.js"]
