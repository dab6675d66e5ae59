FROM python:3.12.3-slim-bookworm
ENV DJANGO_SETTINGS_MODULE coped.settings.dev
# expect DF011
ENV DJANGO_SECRET_KEY django-insecure-4x!k2m0q#z7d@p1v
WORKDIR /usr/src/app
COPY . .
USER nobody
CMD ["python", "manage.py", "runserver", "0.0.0.0:8000"]
