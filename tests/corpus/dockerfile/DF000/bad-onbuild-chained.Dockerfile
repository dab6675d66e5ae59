FROM node:22.21.1-bookworm-slim
# expect DF000
ONBUILD ONBUILD RUN npm ci
