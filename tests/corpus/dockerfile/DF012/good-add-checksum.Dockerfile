# syntax=docker/dockerfile:1
FROM python:3.12.3-slim-bookworm
ADD --checksum=sha256:c5b0666b4cb676901f90dfcb37106783c5fe2077b04590973b885950611b30ee \
    https://github.com/krallin/tini/releases/download/v0.19.0/tini-amd64 /tini
RUN chmod +x /tini
USER nobody
ENTRYPOINT ["/tini", "--"]
