FROM registry.shop.internal:5000/shop/base-python:3.12-2
COPY --chown=app:app . /srv/app
USER app
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "shop.wsgi:application"]
