# expect DF005
FROM --platform=$BUILDPLATFORM python:alpine AS base
WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

FROM base AS build
COPY . .
RUN mkdocs build

# expect DF005
FROM --platform=$TARGETPLATFORM nginx:alpine
COPY --from=build /app/site /usr/share/nginx/html
