# Django web image (development): alpine with a version suffix in the tag.
# expect DF005
FROM python:3.12.3-alpine3.19
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /usr/src/app
RUN apk add --no-cache postgresql-dev=16.2-r0 gcc=13.2.1_git20231014-r0 musl-dev=1.2.4_git20230717-r4
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
ENTRYPOINT ["/usr/src/app/entrypoint.sh"]
