FROM debian:trixie-20251117-slim
RUN set -eux; \
	apt-get update; \
	apt-get install -y --no-install-recommends gosu=1.17-3; \
	apt-get dist-clean
COPY mongo-entrypoint.sh /usr/local/bin/
ENTRYPOINT ["mongo-entrypoint.sh"]
CMD ["mongod"]
