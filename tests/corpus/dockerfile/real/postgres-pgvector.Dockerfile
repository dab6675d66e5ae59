ARG PG_MAJOR=16
FROM postgres:${PG_MAJOR}-bookworm AS build
ARG PG_MAJOR
ARG PGVECTOR_VERSION=v0.7.0
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential git ca-certificates postgresql-server-dev-${PG_MAJOR} \
    && rm -rf /var/lib/apt/lists/*
RUN git clone --branch ${PGVECTOR_VERSION} --depth 1 https://github.com/pgvector/pgvector.git /tmp/pgvector \
    && cd /tmp/pgvector \
    && make clean \
    && make OPTFLAGS="" \
    && make install

FROM postgres:${PG_MAJOR}-bookworm
ARG PG_MAJOR
COPY --from=build /usr/lib/postgresql/${PG_MAJOR}/lib/vector.so /usr/lib/postgresql/${PG_MAJOR}/lib/
COPY --from=build /usr/share/postgresql/${PG_MAJOR}/extension/vector* /usr/share/postgresql/${PG_MAJOR}/extension/
COPY initdb/ /docker-entrypoint-initdb.d/
ENV POSTGRES_DB=shop
HEALTHCHECK --interval=10s --timeout=5s CMD ["pg_isready", "-U", "postgres"]
