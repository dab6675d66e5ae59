# role: app
ARG BASE=shop/base-python:2026-11-25-ab12cd
FROM ${BASE}
COPY . /srv/app
