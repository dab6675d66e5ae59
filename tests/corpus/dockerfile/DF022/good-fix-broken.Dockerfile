FROM debian:bookworm-slim
COPY vendor/wkhtmltox_0.12.6.1-3.bookworm_amd64.deb /tmp/wkhtmltox.deb
RUN apt-get update \
    && (dpkg -i /tmp/wkhtmltox.deb || true) \
    && apt-get install -f -y --no-install-recommends \
    && apt-get -y -f install \
    && rm -rf /var/lib/apt/lists/* /tmp/wkhtmltox.deb
USER nobody
