# syntax=docker/dockerfile:1
FROM python:3.12.3-slim-bookworm
# a cache mount of pip's cache does not cover apt's lists
# expect DF014
RUN --mount=type=cache,target=/root/.cache/pip \
    apt-get update \
    && apt-get install -y --no-install-recommends build-essential=12.9 \
    && pip install -r requirements.txt
USER nobody
