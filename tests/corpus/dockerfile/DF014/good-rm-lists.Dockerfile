FROM python:3.12.3-slim-bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5=15.6-0+deb12u1 \
    && rm -rf /var/lib/apt/lists/*
USER nobody
