# expect DF005
FROM alpine:3.19.1
RUN apk add --no-cache bash=5.2.21-r0 curl=8.5.0-r0 postgresql16-client=16.2-r0
COPY scripts/backup.sh /usr/local/bin/backup.sh
USER nobody
ENTRYPOINT ["/usr/local/bin/backup.sh"]
