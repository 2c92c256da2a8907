#!/bin/bash
# MariaDB entrypoint for the plancheck baseline (runs as the mysql user).
# First start on an empty datadir: mariadb-install-db, then a socket-only
# temporary server runs /etc/mysql/init.d/*.sql and the SQL printed by
# /etc/mysql/init.d/*.sh, then the real server is exec'd.
set -euo pipefail
datadir=${MARIADB_DATADIR:-/var/lib/mysql}
initdir=/etc/mysql/init.d
say() { echo "[entrypoint] $*" >&2; }

if [[ "${1:-}" != mariadbd && "${1:-}" != mysqld ]]; then exec "$@"; fi

if [[ ! -d "$datadir/mysql" ]]; then
    say "empty datadir: initialising $datadir"
    mariadb-install-db --user="$(id -un)" --datadir="$datadir" \
        --skip-test-db --auth-root-authentication-method=socket \
        --skip-name-resolve >/tmp/install-db.log 2>&1 \
        || { cat /tmp/install-db.log >&2; exit 1; }
    sock=/run/mysqld/init.sock
    mariadbd --skip-networking --socket="$sock" --datadir="$datadir" &
    pid=$!
    for _ in $(seq 1 120); do
        mariadb --protocol=socket --socket="$sock" -e 'SELECT 1' >/dev/null 2>&1 && break
        kill -0 "$pid" 2>/dev/null || { say "temporary server died"; exit 1; }
        sleep 1
    done
    shopt -s nullglob
    for f in "$initdir"/*; do
        case "$f" in
            *.sql) say "running $f"; mariadb --protocol=socket --socket="$sock" <"$f" ;;
            *.sh)  say "running $f"; bash "$f" | mariadb --protocol=socket --socket="$sock" ;;
            *)     say "ignoring $f" ;;
        esac
    done
    mariadb-admin --protocol=socket --socket="$sock" shutdown
    wait "$pid" || true
    say "initialisation complete"
fi
exec "$@"
