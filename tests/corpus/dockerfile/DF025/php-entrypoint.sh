#!/bin/sh
set -e
chown -R www-data:www-data /var/www/html/storage
exec runuser -u www-data -- "$@"
