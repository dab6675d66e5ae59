# expect DF025
FROM redis:8.2.3-alpine3.22
COPY redis.conf /usr/local/etc/redis/redis.conf
CMD ["redis-server", "/usr/local/etc/redis/redis.conf"]
