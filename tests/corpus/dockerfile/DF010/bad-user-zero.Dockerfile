# role: app
FROM shop/base-python:3.12-4
COPY --chown=app:app . /srv/app
# expect DF010
USER 0
CMD ["celery", "-A", "shop", "worker", "--loglevel=info"]
