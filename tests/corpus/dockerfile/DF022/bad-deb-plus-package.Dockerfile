FROM debian:bookworm-slim
COPY vendor/wkhtmltox_0.12.6.1-3.bookworm_amd64.deb /tmp/
# the local .deb is fine, fonts-liberation is not
# expect DF022
RUN apt-get update \
    && apt-get install -y --no-install-recommends /tmp/wkhtmltox_0.12.6.1-3.bookworm_amd64.deb fonts-liberation \
    && rm -rf /var/lib/apt/lists/* /tmp/*.deb
USER nobody
