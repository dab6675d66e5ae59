FROM python:3.12.3-slim-bookworm
ARG APP_VERSION=1.4.2
ARG BUILD_DATE
ENV DJANGO_SETTINGS_MODULE=coped.settings.production \
    SESSION_COOKIE_AGE=1209600 \
    ELASTICSEARCH_HOST=elasticsearch:9200 \
    STRIPE_PUBLISHABLE_KEY=pk_test_51HxYzPublicValue \
    KEY_PREFIX=coped
LABEL org.opencontainers.image.version=$APP_VERSION \
      org.opencontainers.image.created=$BUILD_DATE
COPY . /home/app/web
USER nobody
