# syntax=docker/dockerfile:1
# expect DF021
FROM python:3.12.3-slim-bookworm
WORKDIR /backend-flask
COPY . .
RUN pip install --no-cache-dir -r requirements.txt
USER nobody
EXPOSE 4567
CMD ["python3", "-m", "flask", "run", "--host=0.0.0.0", "--port=4567"]
