FROM python:3.12.3-slim-bookworm AS base
COPY --from=ghcr.io/astral-sh/uv:0.4.18 /uv /bin/uv

FROM base AS deps
WORKDIR /srv/app
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev

FROM base
COPY --from=deps /srv/app/.venv /srv/app/.venv
COPY . /srv/app
USER nobody
CMD ["/srv/app/.venv/bin/python", "-m", "api"]
