# Builds a Lambda layer zip for x86_64 regardless of the build host.
FROM --platform=linux/amd64 public.ecr.aws/lambda/python:3.12 AS layer
COPY requirements.txt /tmp/requirements.txt
RUN pip install \
        --platform manylinux2014_x86_64 \
        --only-binary=:all: \
        --target /opt/python \
        -r /tmp/requirements.txt \
    && dnf install -y zip \
    && cd /opt && zip -qr /layer.zip python

FROM scratch AS export
COPY --from=layer /layer.zip /
