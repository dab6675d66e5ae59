FROM php:8.4.15-fpm-trixie
# Debian 13 images clean up with `apt-get dist-clean`, which removes the lists too.
RUN set -eux; \
	apt-get update; \
	apt-get install -y --no-install-recommends \
		libzip-dev=1.11.3-2 \
	; \
	docker-php-ext-install zip; \
	apt-get dist-clean
RUN set -eux; \
	savedAptMark="$(apt-mark showmanual)"; \
	apt-get update; \
	apt-get install -y --no-install-recommends libpq-dev=17.6-0+deb13u1; \
	docker-php-ext-install pdo_pgsql; \
	apt-mark auto '.*' > /dev/null; \
	apt-mark manual $savedAptMark; \
	apt-get purge -y --auto-remove -o APT::AutoRemove::RecommendsImportant=false; \
	apt-get dist-clean
# apt 3 updates the lists itself with `install --update`.
RUN set -eux; \
	apt-get install --update -y --no-install-recommends \
		ca-certificates=20250419 \
		socat=1.8.0.3-1 \
	; \
	apt-get dist-clean
USER www-data
