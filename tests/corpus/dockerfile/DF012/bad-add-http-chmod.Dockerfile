FROM php:8.2.18-cli-bookworm
# expect DF012
ADD --chmod=755 http://downloads.example.com/wp-cli/wp-cli-2.10.0.phar /usr/local/bin/wp
USER www-data
ENTRYPOINT ["wp"]
