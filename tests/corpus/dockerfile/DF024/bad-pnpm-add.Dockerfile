FROM node:20.12-bookworm-slim
RUN corepack enable
WORKDIR /app
COPY package.json pnpm-lock.yaml ./
RUN pnpm install --frozen-lockfile
# expect DF024
RUN pnpm add -D typescript@5.4.5 tsx
COPY . .
USER node
