FROM python:3.12.3-slim-bookworm
# expect DF012
ADD https://github.com/krallin/tini/releases/download/v0.19.0/tini /tini
RUN chmod +x /tini
COPY . /srv/app
USER nobody
ENTRYPOINT ["/tini", "--"]
CMD ["python", "/srv/app/main.py"]
