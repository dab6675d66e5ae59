#!/bin/sh
set -e
# A comment that names gosu does not drop anything.
php artisan migrate --force
exec "$@"
