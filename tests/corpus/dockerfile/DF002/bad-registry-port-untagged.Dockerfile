# The ":5000" belongs to the registry host, not to a tag.
# expect DF002
FROM registry.shop.internal:5000/shop/base-python AS base
ENV PYTHONUNBUFFERED=1

# expect DF002
FROM docker.io/library/redis AS redis-tools

FROM base
COPY --from=redis-tools /usr/local/bin/redis-cli /usr/local/bin/redis-cli
COPY . /srv/app
USER app
CMD ["python", "/srv/app/worker.py"]
