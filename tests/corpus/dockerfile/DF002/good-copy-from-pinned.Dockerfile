ARG UV_VERSION=0.9.8
FROM python:3.13.9-slim-trixie@sha256:0f1e5e0c64b31b4a3e43a7d3fc25e2b1e6b6a1d0b0b6b7b0c8e3f2a9d4c5b6a7 AS build
COPY --from=ghcr.io/astral-sh/uv:${UV_VERSION} /uv /bin/uv
COPY --from=composer:2.8.12 /usr/bin/composer /usr/local/bin/composer
COPY --from=docker.io/library/busybox@sha256:0f1e5e0c64b31b4a3e43a7d3fc25e2b1e6b6a1d0b0b6b7b0c8e3f2a9d4c5b6a7 /bin/busybox /bin/busybox
FROM build
COPY --from=build /bin/uv /usr/local/bin/uv
COPY --from=0 /bin/busybox /usr/local/bin/busybox
USER nobody
