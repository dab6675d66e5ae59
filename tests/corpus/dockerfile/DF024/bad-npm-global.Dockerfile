FROM node:20.12-bookworm-slim
# expect DF024
RUN npm install -g pm2
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev
COPY . .
USER node
CMD ["pm2-runtime", "ecosystem.config.js"]
