ARG PYTHON_VERSION=3.12
ARG BASE_IMAGE=python:3.12-slim-bookworm

# the tag is built from an ARG: still a tag
FROM python:${PYTHON_VERSION}-slim AS wheels
COPY requirements.txt /tmp/
RUN pip wheel --wheel-dir /wheels -r /tmp/requirements.txt

# the FROM is only an ARG whose default is tagged
FROM ${BASE_IMAGE}
COPY --from=wheels /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl
USER nobody
