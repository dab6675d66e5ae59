FROM alpine:3.22.2
# expect DF028
RUN apk update && apk add curl=8.14.1-r2
# expect DF028
RUN apk add --update --virtual .build-deps gcc=14.2.0-r6 && make && apk del .build-deps
# Removed in a later RUN: still in the earlier layer.
# expect DF028
RUN apk add tzdata=2025b-r0
RUN rm -rf /var/cache/apk/*
USER nobody
