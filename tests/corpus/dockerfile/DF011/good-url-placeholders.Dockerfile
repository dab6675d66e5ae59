FROM python:3.13.9-slim-trixie
ARG DB_HOST=db
# The password comes from the environment at run time, or from a mounted secret.
ENV DATABASE_URL=mysql://app:${DB_PASSWORD}@db:3306/shop
ENV CELERY_BROKER_URL=amqp://app:$RABBITMQ_PASSWORD@rabbitmq:5672//
ENV DB_PASSWORD_FILE=/run/secrets/db-password
ENV DATABASE_PASSWORD=/run/secrets/db-password
# A user without a password, and URLs without userinfo.
ENV GIT_URL=ssh://git@github.com/shop/app.git \
    SENTRY_DSN_HOST=https://sentry.shop.internal/3 \
    PIP_INDEX_URL=https://pypi.org/simple
USER nobody
