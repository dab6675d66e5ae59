FROM python:3.12.3-slim-bookworm
# expect DF015
RUN apt-get update && apt-get -y dist-upgrade && rm -rf /var/lib/apt/lists/*
COPY . /srv/app
USER nobody
