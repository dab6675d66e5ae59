# syntax=docker/dockerfile:1
FROM nginx:1.29.3-alpine3.22
RUN apk add --no-cache curl=8.14.1-r2
RUN apk --no-cache add tzdata=2025b-r0
RUN apk add --update tini=0.19.0-r3 && rm -rf /var/cache/apk/*
RUN apk update && apk add gettext=0.24.1-r0; rm -rf /var/cache/apk
RUN --mount=type=cache,target=/var/cache/apk \
    apk add --update git=2.49.1-r0
RUN --mount=type=cache,target=/etc/apk/cache \
    apk add jq=1.8.0-r0
RUN apk add --simulate make
USER nginx
