# The project's own pattern: slipway passes the base image as a build arg.
ARG SLIPWAY_BASE
FROM ${SLIPWAY_BASE}
COPY app/ /var/www/html/
USER www-data
