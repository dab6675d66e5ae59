FROM python:3.13.9-alpine3.22
# The virtual package's name (.build-deps) is not a package; gcc, musl-dev and libffi-dev are.
# expect DF027
RUN set -eux; \
	apk add --no-cache --virtual .build-deps gcc musl-dev libffi-dev; \
	pip install --no-cache-dir cffi==2.0.0; \
	apk del --no-network .build-deps
# expect DF027
RUN apk --no-cache add tzdata=2025b-r0 ca-certificates
USER nobody
