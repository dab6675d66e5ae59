FROM python:3.12.3-slim-bookworm
COPY . /srv/app
RUN pip install --no-cache-dir -r /srv/app/requirements.txt
USER nobody
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"]
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "app:app"]
