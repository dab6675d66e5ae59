FROM debian:trixie-20251117-slim
# expect DF014
RUN apt-get install --update -y --no-install-recommends socat=1.8.0.3-1
USER nobody
