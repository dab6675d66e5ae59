FROM node:20.12-bookworm-slim
WORKDIR /opt/chrome
COPY vendor/*.deb /tmp/debs/
COPY vendor/google-chrome-stable_current_amd64.deb ./
RUN apt-get update \
    && apt-get install -y --no-install-recommends ./google-chrome-stable_current_amd64.deb \
    && apt-get install -y --no-install-recommends /tmp/debs/*.deb \
    && apt-get install -y --no-install-recommends /tmp/debs/wkhtmltox_0.12.6.1-3.bookworm_amd64.deb \
    && rm -rf /var/lib/apt/lists/* /tmp/debs
USER node
