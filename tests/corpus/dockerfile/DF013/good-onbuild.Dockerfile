FROM python:3.13.9-slim-trixie
WORKDIR /usr/src/app
ONBUILD   RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5=17.6-0+deb13u1 \
    && apt-get dist-clean
USER nobody
