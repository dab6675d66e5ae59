# role: app
# The final stage starts again from an unrelated image.
FROM shop/base-python:3.12-4 AS test
COPY . /srv/app
RUN python -m pytest /srv/app/tests

# expect DF003
FROM python:3.12-slim-bookworm
COPY --from=test /srv/app /srv/app
USER nobody
CMD ["python", "/srv/app/main.py"]
