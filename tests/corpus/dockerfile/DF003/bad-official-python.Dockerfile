# role: app
# The Flask backend should start from the project's base image, not from python directly.
# expect DF003
FROM python:3.12-slim-bookworm

WORKDIR /backend-flask
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
ENV FLASK_ENV=production
EXPOSE 4567
USER nobody
CMD ["python3", "-m", "flask", "run", "--host=0.0.0.0", "--port=4567"]
