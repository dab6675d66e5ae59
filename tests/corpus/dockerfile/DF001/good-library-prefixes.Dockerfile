# role: base
# Both the explicit library/ and the docker.io/library/ spellings are official.
FROM library/debian:bookworm-slim AS fetch
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates=20230311 curl=7.88.1-10+deb12u5 \
    && rm -rf /var/lib/apt/lists/*
RUN curl -fsSLo /usr/local/bin/tini https://github.com/krallin/tini/releases/download/v0.19.0/tini-amd64 \
    && chmod +x /usr/local/bin/tini

FROM docker.io/library/nginx:1.25.4-bookworm
COPY --from=fetch /usr/local/bin/tini /usr/local/bin/tini
COPY nginx/conf.d/ /etc/nginx/conf.d/
ENTRYPOINT ["/usr/local/bin/tini", "--"]
CMD ["nginx", "-g", "daemon off;"]
