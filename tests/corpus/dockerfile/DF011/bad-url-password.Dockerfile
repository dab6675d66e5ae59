FROM python:3.13.9-slim-trixie
# expect DF011
ENV DATABASE_URL=mysql://root:example@db:3306/shop
# expect DF011
ENV APP_ENV=dev \
    CELERY_BROKER_URL="amqp://guest:guest@rabbitmq:5672//"
# expect DF011
ARG PIP_EXTRA_INDEX_URL=https://__token__:pypi-AgEIcHlwaS5vcmc@pypi.shop.internal/simple
# expect DF011
ENV REDIS_URL redis://:s3cr3t@redis:6379/0
USER nobody
