FROM python:3.12.3-slim-bookworm AS builder
WORKDIR /usr/src/app
COPY requirements.txt .
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /usr/src/app/wheels -r requirements.txt

FROM python:3.12.3-slim-bookworm AS final
RUN addgroup --system app && adduser --system --group app
COPY --from=builder /usr/src/app/wheels /wheels
RUN pip install --no-cache-dir /wheels/*
USER app
