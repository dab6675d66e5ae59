FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    C_FORCE_ROOT=false

RUN apt-get update && apt-get install -y gcc libpq-dev && apt-get clean

WORKDIR /code
COPY requirements.txt /code/
RUN pip install --upgrade pip && pip install -r requirements.txt
RUN pip install celery[redis] flower

COPY . /code/

RUN useradd -m worker && chown -R worker /code
USER worker

CMD celery -A shop worker --loglevel=INFO --concurrency=${CELERY_CONCURRENCY:-4}
