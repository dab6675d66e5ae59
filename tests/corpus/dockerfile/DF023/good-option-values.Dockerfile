FROM python:3.12.4-slim-bookworm
RUN pip install --no-cache-dir --root-user-action ignore flask==3.0.3
USER nobody
CMD ["flask", "run"]
