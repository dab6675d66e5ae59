# syntax=docker/dockerfile:1
FROM python:3.12.3-slim-bookworm
RUN groupadd --system app && useradd --system --gid app --create-home app
WORKDIR /home/app/web
COPY --chown=app:app requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY --chown=app:app . .
USER app
CMD ["gunicorn", "coped.wsgi:application", "--bind", "0.0.0.0:8000"]
