# syntax=docker/dockerfile:1
FROM python:3.12.3-slim-bookworm
COPY . /srv/app
# expect DF016
RUN <<EOF
set -e
cd /srv/app
python manage.py collectstatic --noinput
EOF

USER nobody
