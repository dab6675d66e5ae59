# The FROM is only an ARG: its default is what gets checked.
ARG BASE_IMAGE=python
# expect DF002
FROM ${BASE_IMAGE}

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
USER nobody
CMD ["python", "-m", "app"]
