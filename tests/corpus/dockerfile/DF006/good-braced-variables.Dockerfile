FROM --platform=${BUILDPLATFORM} python:3.12.3-slim-bookworm AS wheels
ARG TARGETPLATFORM
COPY requirements.txt /tmp/
RUN pip wheel --wheel-dir /wheels -r /tmp/requirements.txt

FROM --platform=${TARGETPLATFORM:-linux/amd64} python:3.12.3-slim-bookworm
COPY --from=wheels /wheels /wheels
RUN pip install --no-cache-dir --no-index /wheels/*.whl
USER nobody
