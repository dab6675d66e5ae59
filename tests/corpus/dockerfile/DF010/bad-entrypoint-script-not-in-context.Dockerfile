# The script is not in the build context, so nothing shows that it drops root.
# expect DF010
FROM debian:trixie-20251117-slim
COPY missing-entrypoint.sh /usr/local/bin/
ENTRYPOINT ["missing-entrypoint.sh"]
CMD ["server"]
