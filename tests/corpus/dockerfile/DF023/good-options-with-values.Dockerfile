FROM python:3.12.3-slim-bookworm AS layer
COPY requirements.txt .
# values of --platform / --trusted-host / --target / -i are not packages
RUN pip install --no-cache-dir \
        --platform manylinux2014_x86_64 \
        --only-binary=:all: \
        --target /opt/python \
        --index-url https://pypi.shop.internal/simple \
        --trusted-host pypi.shop.internal \
        -r requirements.txt \
    && pip install --no-cache-dir -i https://pypi.shop.internal/simple --find-links /wheels boto3==1.34.100
USER nobody
