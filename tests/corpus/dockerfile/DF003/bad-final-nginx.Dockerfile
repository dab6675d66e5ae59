# role: app
# The builder stage may use node; the served image must be shop/base-nginx.
FROM node:20.12-bookworm-slim AS build
WORKDIR /frontend-react-js
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build

# expect DF003
FROM nginx:1.25.4-bookworm
COPY --from=build /frontend-react-js/build /usr/share/nginx/html
EXPOSE 3000
