# role: base
# A tiny "tools" base that app images copy tini and CA certificates from.
FROM debian:bookworm-slim AS fetch
ARG TINI_VERSION=v0.19.0
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates=20230311 curl=7.88.1-10+deb12u5 \
    && curl -fsSLo /tini "https://github.com/krallin/tini/releases/download/${TINI_VERSION}/tini-static-amd64" \
    && chmod 0755 /tini \
    && rm -rf /var/lib/apt/lists/*

FROM scratch
COPY --from=fetch /tini /usr/local/bin/tini
COPY --from=fetch /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
