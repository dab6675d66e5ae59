# The official entrypoint that would drop root is replaced, or told to run something else.
# expect DF010
FROM mysql:8.4.7-oraclelinux9
ENTRYPOINT ["mysqld"]
