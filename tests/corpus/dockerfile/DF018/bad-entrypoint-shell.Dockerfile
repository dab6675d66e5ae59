FROM python:3.12.3-slim-bookworm
COPY entrypoint.sh /usr/local/bin/entrypoint.sh
COPY . /srv/app
USER nobody
# expect DF018
ENTRYPOINT /usr/local/bin/entrypoint.sh
# expect DF018
CMD gunicorn --bind 0.0.0.0:8000 --workers 3 app:app
