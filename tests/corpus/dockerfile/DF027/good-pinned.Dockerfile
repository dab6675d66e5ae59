FROM node:22.21.1-alpine3.22
RUN apk add --no-cache \
		tini=0.19.0-r3 \
		curl~8.14 \
		"libstdc++>=14.2" \
		--virtual .build-deps
RUN apk add --no-cache --allow-untrusted /tmp/app-1.0.0-r0.apk
RUN apk add --no-cache $RUNTIME_PACKAGES
RUN apk add --simulate git
RUN apk del .build-deps
USER node
