FROM python:3.12.3-slim-bookworm
COPY . /srv/app
USER nobody
# HEALTHCHECK CMD in shell form is not a CMD instruction
HEALTHCHECK --interval=30s --timeout=3s CMD curl -fsS http://127.0.0.1:8000/healthz || exit 1
CMD ["gunicorn", \
     "--bind", "0.0.0.0:8000", \
     "--workers", "3", \
     "app:app"]
