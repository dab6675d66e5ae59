# A template image: the triggers run in every image built FROM it.
FROM python:3.13.9-slim-trixie
WORKDIR /usr/src/app
# expect DF013
ONBUILD RUN apt-get update && apt-get install -y libpq5=17.6-0+deb13u1 && apt-get dist-clean
ONBUILD COPY requirements.txt /usr/src/app/
ONBUILD RUN pip install --no-cache-dir -r requirements.txt
ONBUILD COPY . /usr/src/app
USER nobody
