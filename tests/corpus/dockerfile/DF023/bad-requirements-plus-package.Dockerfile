FROM python:3.12.3-slim-bookworm
WORKDIR /home/app/web
COPY requirements.txt .
# the requirements file is fine, the extra gunicorn is not
# expect DF023
RUN pip install --no-cache-dir -r requirements.txt gunicorn
COPY . .
USER nobody
