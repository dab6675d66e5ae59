FROM python:3.12.3-slim-bookworm
WORKDIR /srv/api
COPY . .
# extras are not a version
# expect DF023
RUN python3 -m pip install --no-cache-dir "uvicorn[standard]" fastapi==0.111.0
USER nobody
CMD ["uvicorn", "api.main:app", "--host", "0.0.0.0"]
