# syntax=docker/dockerfile:1
FROM python:3.12.3-slim-bookworm AS deps
WORKDIR /srv/app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

FROM deps AS test
COPY requirements-dev.txt .
RUN pip install --no-cache-dir -r requirements-dev.txt
COPY . .
RUN python -m pytest

# copy-pasted from the first stage: second "deps"
# expect DF020
FROM python:3.12.3-slim-bookworm AS deps
WORKDIR /srv/app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

# expect DF020
FROM deps AS Test
COPY . .
USER nobody
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "app:app"]
