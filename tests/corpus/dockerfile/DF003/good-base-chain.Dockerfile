# role: app
FROM docker.io/shop/base-python:3.12-4 AS base
WORKDIR /srv/app

FROM python:3.12-bookworm AS wheels
COPY requirements.txt /tmp/requirements.txt
RUN pip wheel --wheel-dir /wheels -r /tmp/requirements.txt

FROM base AS deps
COPY --from=wheels /wheels /wheels
RUN pip install --no-cache-dir --no-index /wheels/*.whl

FROM deps
COPY --chown=app:app . .
USER app
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "coped.wsgi:application"]
