FROM node:22.21.1-bookworm-slim
# expect DF026
RUN curl -fsSL https://get.pnpm.io/install.sh | env PNPM_VERSION=10.20.0 sh -
# `||` is not a pipe; the second pipe in a RUN is reported once, with the first.
RUN test -d /app || mkdir /app
# expect DF026
RUN set -eux; \
    wget -qO- https://example.org/tool-1.2.3.tar.gz | tar -xz -C /usr/local/bin; \
    tool --version | head -n1
USER node
