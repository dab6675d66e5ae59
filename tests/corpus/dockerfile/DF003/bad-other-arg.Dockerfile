# role: app
# An ARG that is not SLIPWAY_BASE and whose default is python: not the project base.
ARG BASE=python:3.12-slim-bookworm
# expect DF003
FROM ${BASE}
COPY . /srv/app
USER nobody
CMD ["python", "/srv/app/main.py"]
