FROM node:22.21.1-bookworm-slim
WORKDIR /usr/src/app
ONBUILD COPY package*.json ./
# expect DF024
ONBUILD RUN npm install -g nodemon && npm ci
ONBUILD COPY . .
USER node
CMD ["npm", "start"]
