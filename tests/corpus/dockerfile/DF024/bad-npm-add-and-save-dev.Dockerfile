FROM node:20.12-bookworm-slim
WORKDIR /app
COPY . .
# expect DF024
RUN npm add express \
    && npm ci
# expect DF024
RUN npm install --save-dev nodemon
USER node
