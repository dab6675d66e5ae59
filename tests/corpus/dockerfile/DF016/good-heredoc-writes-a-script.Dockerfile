FROM debian:bookworm-20251117-slim
# The heredoc is the content of a file, not commands of this RUN.
RUN cat > /usr/local/bin/start <<eof
#!/bin/sh
cd /srv/app
exec python3 -m api
eof
RUN chmod +x /usr/local/bin/start
USER nobody
CMD ["/usr/local/bin/start"]
