FROM redis:8.2.3-trixie AS base
USER redis

FROM base
USER root
RUN mkdir /data/extra && chown redis:redis /data/extra
COPY ./redis-entrypoint.sh /usr/local/bin/
# expect DF025
USER root
ENTRYPOINT ["redis-entrypoint.sh"]
CMD ["redis-server"]
