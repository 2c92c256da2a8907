#!/bin/bash
# Prints the SQL that creates the service accounts (piped into the server by
# the entrypoint).  Passwords come from compose secrets generated at deploy
# time by baseline/scripts/secrets.sh; every TCP account needs a client
# certificate issued by the platform CA (REQUIRE X509) on top of TLS 1.3.
set -euo pipefail
s=/run/secrets
q() { sed "s/'/''/g" "$1"; }   # SQL-quote a secret file's content
cat <<SQL
-- application services (api-server, chat-server, auth-server)
CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED BY '$(q $s/mariadb_app_password)' REQUIRE X509;
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE TEMPORARY TABLES, EXECUTE ON appdb.* TO 'app'@'%';

-- mysqld-exporter
CREATE USER IF NOT EXISTS 'exporter'@'%' IDENTIFIED BY '$(q $s/mariadb_exporter_password)' REQUIRE X509
    WITH MAX_USER_CONNECTIONS 3;
-- (SLAVE MONITOR: SHOW SLAVE STATUS needs it since MariaDB 10.5)
GRANT PROCESS, REPLICATION CLIENT, SLAVE MONITOR, SELECT ON *.* TO 'exporter'@'%';

-- mariabackup (backup container)
CREATE USER IF NOT EXISTS 'backup'@'%' IDENTIFIED BY '$(q $s/mariadb_backup_password)' REQUIRE X509
    WITH MAX_USER_CONNECTIONS 4;
GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR, SLAVE MONITOR ON *.* TO 'backup'@'%';
GRANT SELECT ON appdb.* TO 'backup'@'%';

-- plancheck audit engine: read-only
CREATE USER IF NOT EXISTS 'plancheck_audit'@'%' IDENTIFIED BY '$(q $s/mariadb_audit_password)' REQUIRE X509
    WITH MAX_USER_CONNECTIONS 5;
GRANT PROCESS, SHOW DATABASES, BINLOG MONITOR, SLAVE MONITOR ON *.* TO 'plancheck_audit'@'%';
GRANT SELECT ON mysql.* TO 'plancheck_audit'@'%';
GRANT SELECT ON performance_schema.* TO 'plancheck_audit'@'%';
FLUSH PRIVILEGES;
SQL
