FROM python:3.12.3-slim-bookworm
# expect DF014
RUN apt-get update && apt-get install -y --no-install-recommends libpq5=15.6-0+deb12u1
COPY . /srv/app
USER nobody
