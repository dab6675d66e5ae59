FROM node:20.12-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev
COPY . .
# expect DF010
USER root:root
CMD ["node", "server.js"]
