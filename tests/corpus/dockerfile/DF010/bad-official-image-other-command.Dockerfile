# The entrypoint only steps down when it starts the server; a shell stays root.
# expect DF010
FROM redis:8.2.3-trixie
CMD ["sh", "-c", "redis-cli -h cache ping"]
