# syntax=docker/dockerfile:1
FROM python:3.12.3-slim-bookworm
WORKDIR /srv/app
COPY requirements/ requirements/
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install -r requirements/base.txt
RUN pip install --no-cache-dir --requirement requirements/prod.txt \
    && pip install --no-cache-dir -c requirements/constraints.txt gunicorn==21.2.0 \
    && python -m pip install --no-cache-dir --constraint requirements/constraints.txt -r requirements/extra.txt
COPY . .
USER nobody
