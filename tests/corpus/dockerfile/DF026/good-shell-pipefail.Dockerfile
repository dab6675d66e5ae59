FROM debian:trixie-20251117-slim AS base
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN curl -fsSL https://deb.nodesource.com/setup_22.x | bash -

# The SHELL carries over to stages built FROM this one.
FROM base AS tools
RUN wget -qO- https://example.org/tool.tar.gz | tar -xz -C /usr/local/bin

FROM alpine:3.22.2
SHELL ["/bin/ash", "-eo", "pipefail", "-c"]
RUN wget -qO- https://example.org/tool.tar.gz | tar -xz -C /usr/local/bin
USER nobody
