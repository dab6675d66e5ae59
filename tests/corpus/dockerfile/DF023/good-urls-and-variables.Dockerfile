FROM python:3.12.3-slim-bookworm
ARG PIP_PACKAGES="gunicorn==21.2.0 uvicorn==0.30.1"
ARG EXTRA_PACKAGES
RUN pip install --no-cache-dir https://github.com/acme/shop-sdk/archive/refs/tags/v1.2.0.tar.gz \
    && pip install --no-cache-dir "git+https://github.com/acme/shop-auth.git@v1.4.0#egg=shop-auth" \
    && pip install --no-cache-dir $PIP_PACKAGES \
    && pip install --no-cache-dir ${EXTRA_PACKAGES}
USER nobody
