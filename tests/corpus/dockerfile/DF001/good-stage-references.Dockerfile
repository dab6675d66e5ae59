# role: base
# Later stages build on the earlier "python-base" stage: only the first FROM names an image.
FROM python:3.12.3-slim-bookworm AS python-base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

FROM python-base AS builder
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential=12.9 libpq-dev=15.6-0+deb12u1 \
    && rm -rf /var/lib/apt/lists/*
COPY requirements/base.txt /tmp/base.txt
RUN pip wheel --wheel-dir /wheels -r /tmp/base.txt

FROM python-base
COPY --from=builder /wheels /wheels
RUN pip install --no-index --find-links=/wheels /wheels/*.whl && rm -rf /wheels
RUN useradd --create-home --uid 10001 app
USER app
