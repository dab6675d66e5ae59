# Legacy worker image: nobody ever pinned the base.
# expect DF002
FROM ubuntu

RUN apt-get update \
    && apt-get install -y --no-install-recommends python3=3.10.6-1~22.04 python3-pip=22.0.2+dfsg-1ubuntu0.4 \
    && rm -rf /var/lib/apt/lists/*
COPY worker/ /opt/worker/
USER nobody
CMD ["python3", "/opt/worker/main.py"]
