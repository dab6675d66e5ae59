FROM python:3.12.3-slim-bookworm
WORKDIR /srv/app
COPY . .
# expect DF023
RUN pip install --no-cache-dir gunicorn
USER nobody
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "app:app"]
