FROM python:3.12.3-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN pip wheel --no-deps --wheel-dir /wheels . ./libs/shop-common

FROM python:3.12.3-slim-bookworm
WORKDIR /srv/app
COPY --from=build /wheels /wheels
COPY . .
RUN pip install --no-cache-dir /wheels/*.whl \
    && pip install --no-cache-dir . \
    && pip install --no-cache-dir ./libs/shop-common \
    && pip install --no-cache-dir -e . \
    && pip install --no-cache-dir --editable ./libs/shop-admin \
    && pip install --no-cache-dir dist/shop_reports-1.0.0.tar.gz \
    && pip install --no-cache-dir /wheels/shop_api-2.3.1-py3-none-any.whl
USER nobody
