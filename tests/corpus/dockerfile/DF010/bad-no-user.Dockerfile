# syntax=docker/dockerfile:1
# expect DF010
FROM python:3.12.3-slim-bookworm
ENV PYTHONUNBUFFERED=1
WORKDIR /backend-flask
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
EXPOSE 4567
CMD ["python3", "-m", "flask", "run", "--host=0.0.0.0", "--port=4567"]
