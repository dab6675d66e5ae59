# Copying a file out of an alpine image is not a FROM alpine.
FROM python:3.12.3-slim-bookworm
COPY --from=alpine:3.19.1 /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY . /srv/app
USER nobody
CMD ["python", "/srv/app/main.py"]
