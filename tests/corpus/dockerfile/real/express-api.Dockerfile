FROM node:18

RUN apt-get update && apt-get upgrade -y && apt-get install -y tini

WORKDIR /usr/src/app
COPY package*.json ./
RUN npm install
RUN npm install -g nodemon
COPY . .

ENV NODE_ENV=production
ENV JWT_SECRET=supersecretchangeme
EXPOSE 8080

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD node src/server.js
