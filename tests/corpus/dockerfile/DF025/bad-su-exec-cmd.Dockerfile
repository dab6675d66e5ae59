# expect DF025
FROM node:22.21.1-alpine3.22
RUN apk add --no-cache su-exec~0.2 tini~0.19
WORKDIR /app
COPY --chown=node:node . .
ENTRYPOINT ["/sbin/tini", "--"]
CMD ["su-exec", "node", "node", "server.js"]
