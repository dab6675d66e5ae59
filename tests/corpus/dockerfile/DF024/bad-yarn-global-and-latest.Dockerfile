FROM node:20.12-bookworm-slim
# expect DF024
RUN yarn global add pm2
# expect DF024
RUN npm install -g npm@latest
USER node
CMD ["node", "server.js"]
