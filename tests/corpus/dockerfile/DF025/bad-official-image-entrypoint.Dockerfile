# The official postgres image's entrypoint runs as root, fixes the data directory's owner and
# re-executes itself as postgres; this image keeps that entrypoint.
# expect DF025
FROM postgres:17.6-trixie
COPY initdb/ /docker-entrypoint-initdb.d/
CMD ["postgres", "-c", "shared_buffers=256MB"]
