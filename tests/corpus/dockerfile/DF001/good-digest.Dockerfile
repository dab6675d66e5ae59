# role: base
FROM node:20.12.2-bookworm-slim@sha256:987f431e2a0d1a38f3715e3965851ed4877d806f56823c4ef3765d2ca28cd866
RUN corepack enable
WORKDIR /home/node/app
USER node
