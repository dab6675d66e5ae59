FROM debian:bookworm-slim@sha256:bb6e7dce744738c17f44b9552fe2932326fdb1362bb41166104c0714a8bc4882 AS certs
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates=20230311 \
    && rm -rf /var/lib/apt/lists/*

FROM certs AS tools
RUN mkdir -p /out/etc/ssl/certs && cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/

FROM scratch
COPY --from=tools /out/ /
