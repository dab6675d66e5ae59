FROM node:20.12-bookworm-slim
RUN npm install -g pm2@5.3.1 \
    && npm i -g npm@10.5.2 \
    && yarn add sharp@0.33.3 \
    && npm add express@4.19.2 \
    && npm install --save-dev nodemon@^3.1.0
RUN corepack enable && pnpm add -D typescript@5.4.5 tsx@4.7.2
USER node
