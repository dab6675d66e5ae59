FROM python:3.12.3-slim-bookworm AS dev
WORKDIR /srv/app
COPY . .
CMD ["python", "manage.py", "runserver", "0.0.0.0:8000"]

FROM dev AS prod
USER nobody
CMD ["gunicorn", "coped.wsgi:application", "--bind", "0.0.0.0:8000"]
