FROM python:3.12.3-slim-bookworm
RUN pip wheel --wheel-dir /wheels gunicorn==21.2.0

FROM python:3.12.3-slim-bookworm
COPY --from=0 /wheels /wheels
# there is no stage 3 (and stage 1 is this one)
# expect DF019
COPY --from=3 /srv/static /srv/static
RUN pip install --no-cache-dir --no-index /wheels/*.whl
USER nobody
