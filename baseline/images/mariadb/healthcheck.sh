#!/bin/sh
# Healthy = the real server (not the init-time one) answers on its socket and
# has TLS enabled.  Authenticates as mysql@localhost via unix_socket.
set -e
out=$(mariadb --protocol=socket -N -B -e "SELECT @@have_ssl" 2>&1) || { echo "$out"; exit 1; }
[ "$out" = "YES" ] || { echo "have_ssl=$out"; exit 1; }
echo ok
