ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.9.8
FROM python:3.13.9-slim-trixie
COPY --from=$UV_IMAGE /uv /bin/uv
COPY --from=${UV_IMAGE} /uvx /bin/uvx
USER nobody
