FROM python:3.12.3-slim-bookworm
WORKDIR /srv/app
COPY . .
CMD ["python", "manage.py", "runserver", "0.0.0.0:8000"]
USER nobody
# the second CMD replaces the first
# expect DF017
CMD ["gunicorn", "coped.wsgi:application", "--bind", "0.0.0.0:8000"]
