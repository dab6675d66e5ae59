ARG NODE_IMAGE=node
FROM python:3.13.9-slim-trixie@sha256:0f1e5e0c64b31b4a3e43a7d3fc25e2b1e6b6a1d0b0b6b7b0c8e3f2a9d4c5b6a7
# COPY --from pulls an image like FROM does.
# expect DF002
COPY --from=ghcr.io/astral-sh/uv /uv /uvx /bin/
# expect DF002
COPY --from=composer:latest /usr/bin/composer /usr/local/bin/composer
# expect DF002
COPY --from=${NODE_IMAGE} /usr/local/bin/node /usr/local/bin/node
USER nobody
