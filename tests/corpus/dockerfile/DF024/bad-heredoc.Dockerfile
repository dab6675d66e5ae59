# syntax=docker/dockerfile:1
FROM node:20.12-bookworm-slim
# expect DF024
RUN <<EOF
set -e
npm install -g npm
npm install -g @nestjs/cli@10.3.2
EOF

USER node
