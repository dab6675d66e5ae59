FROM python:3.12.3-slim-bookworm
# pip itself, unpinned
# expect DF023
RUN pip install --no-cache-dir --upgrade pip
# expect DF023
RUN python -m pip install --no-cache-dir -U pip setuptools wheel
COPY requirements.txt /tmp/
RUN pip install --no-cache-dir -r /tmp/requirements.txt
USER nobody
