# syntax=docker/dockerfile:1
FROM python:3.12-slim-bookworm

WORKDIR /app
COPY requirements.txt .
# expect DF000
RUNN pip install --no-cache-dir -r requirements.txt
COPY . .
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "app:app"]
