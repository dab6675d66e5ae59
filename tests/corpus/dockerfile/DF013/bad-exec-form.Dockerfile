FROM debian:trixie-20251117-slim
# expect DF013
RUN ["apt-get", "install", "-y", "curl"]
USER nobody
