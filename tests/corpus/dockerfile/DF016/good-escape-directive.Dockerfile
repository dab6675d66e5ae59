# escape=`
FROM python:3.12.3-slim-bookworm
WORKDIR /srv/app
COPY . .
RUN pip install --no-cache-dir -r requirements.txt `
    && python -m compileall -q /srv/app
USER nobody
