# role: app
# shop/base-python-ml is not one of the project's base repositories.
# expect DF003
FROM registry.shop.internal/shop/base-python-ml:3.12-1
COPY --chown=app:app . /srv/recommender
USER app
CMD ["python", "-m", "recommender"]
