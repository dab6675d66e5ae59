FROM python:3.12.4-slim-bookworm
# A tokenizer setting and a path to a secret file are not secrets.
ENV TOKENIZERS_PARALLELISM=false \
    POSTGRES_PASSWORD_FILE=/run/secrets/pg
USER nobody
CMD ["python3", "-m", "api"]
