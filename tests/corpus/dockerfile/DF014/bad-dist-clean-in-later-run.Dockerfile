FROM python:3.13.9-slim-trixie
# expect DF014
RUN set -eux; \
	apt-get update; \
	apt-get install -y --no-install-recommends libpq5=17.6-0+deb13u1
RUN apt-get dist-clean
# `apt-get clean` empties /var/cache/apt only; `apt-get dist-clean` would also drop the lists.
# expect DF014
RUN apt-get update && apt-get install -y --no-install-recommends tini=0.19.0-3 && apt-get clean
USER nobody
