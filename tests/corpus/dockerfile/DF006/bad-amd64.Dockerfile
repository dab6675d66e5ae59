# Pinned to amd64 "because of the M1 laptops": breaks arm64 builds.
# expect DF006
FROM --platform=linux/amd64 python:3.12.3-slim-bookworm
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
USER nobody
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "app:app"]
