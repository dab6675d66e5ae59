FROM shop/base-python:3.12-4
# one secret key in a multi-key ENV: the instruction is flagged
# expect DF011
ENV APP_ENV=staging \
    APP_DEBUG=0 \
    JWT_PRIVATE_KEY="-----BEGIN PRIVATE KEY-----MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" \
    LOG_LEVEL=info
COPY . /srv/app
USER app
