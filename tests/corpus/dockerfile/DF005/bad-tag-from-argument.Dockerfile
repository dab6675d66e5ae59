ARG NODE
# expect DF005
FROM node:${NODE}-alpine
USER node
CMD ["node", "server.js"]
