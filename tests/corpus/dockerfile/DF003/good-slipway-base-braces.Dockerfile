# role: app
ARG SLIPWAY_BASE
FROM ${SLIPWAY_BASE}
WORKDIR /srv/app
COPY --chown=app:app . .
USER app
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "shop.wsgi:application"]
