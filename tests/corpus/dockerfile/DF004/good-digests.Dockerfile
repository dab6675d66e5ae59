FROM node@sha256:987f431e2a0d1a38f3715e3965851ed4877d806f56823c4ef3765d2ca28cd866 AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build

FROM nginx:1.25.4-bookworm@sha256:1047b3d9918c63cd60744393ea55fb399018668c841a39ae653dd7e6d58317c0
COPY --from=build /app/dist /usr/share/nginx/html
