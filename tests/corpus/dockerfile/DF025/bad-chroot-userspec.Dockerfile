# expect DF025
FROM debian:trixie-20251117-slim
COPY app /opt/app
CMD ["chroot", "--userspec=1000:1000", "/", "/opt/app/server"]
