ARG APP_UID=10001
FROM python:3.12.3-slim-bookworm
ARG APP_UID
RUN useradd --uid "${APP_UID}" --create-home worker
COPY --chown=worker . /srv/worker
USER ${APP_UID}
CMD ["python", "/srv/worker/run.py"]
