#!/bin/sh
# Export REDIS_PASSWORD from the secret file, then run the exporter.
set -eu
pwfile=${REDIS_PASSWORD_FILE:-/run/secrets/redis_exporter_password}
REDIS_PASSWORD=$(cat "$pwfile")
export REDIS_PASSWORD
exec /usr/bin/prometheus-redis-exporter "$@"
