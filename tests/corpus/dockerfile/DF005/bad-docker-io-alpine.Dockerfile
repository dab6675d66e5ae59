# expect DF005
FROM docker.io/library/alpine:3.19.1 AS fetch
RUN wget -qO /tmp/supercronic https://github.com/aptible/supercronic/releases/download/v0.2.29/supercronic-linux-amd64 \
    && chmod +x /tmp/supercronic

FROM php:8.2.18-cli-bookworm
COPY --from=fetch /tmp/supercronic /usr/local/bin/supercronic
COPY crontab /etc/crontab
USER www-data
CMD ["supercronic", "/etc/crontab"]
