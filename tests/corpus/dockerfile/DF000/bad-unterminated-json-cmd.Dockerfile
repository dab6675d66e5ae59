FROM python:3.12-slim-bookworm AS runtime

ENV PYTHONUNBUFFERED=1
WORKDIR /srv/backend-flask
COPY . .
EXPOSE 4567
# expect DF000
CMD ["python3", "-m", "flask", "run", "--host=0.0.0.0", "--port=4567"
