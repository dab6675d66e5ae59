# services/db: a postgres with the extensions the shop needs
FROM postgres:16.2-bookworm
# expect DF011
ENV POSTGRES_PASSWORD=postgres
ENV POSTGRES_DB=shop
COPY initdb/ /docker-entrypoint-initdb.d/
USER postgres
