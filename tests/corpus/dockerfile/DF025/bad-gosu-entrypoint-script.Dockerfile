# expect DF025
FROM debian:trixie-20251117-slim
RUN set -eux; \
	apt-get update; \
	apt-get install -y --no-install-recommends gosu=1.17-3 postgresql-17=17.6-0+deb13u1; \
	apt-get dist-clean; \
	gosu nobody true
ENV PGDATA=/var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/
ENTRYPOINT ["postgres-entrypoint.sh"]
STOPSIGNAL SIGINT
EXPOSE 5432
CMD ["postgres"]
