-- First-start hardening (run once by the image entrypoint over the socket).
-- mariadb-install-db ran with --skip-test-db and unix_socket auth for root.
DELETE FROM mysql.global_priv WHERE User = '';
DELETE FROM mysql.global_priv WHERE User = 'root' AND Host NOT IN ('localhost');
DROP DATABASE IF EXISTS test;
DELETE FROM mysql.db WHERE Db = 'test' OR Db = 'test\\_%';
-- install-db's proxy grant for the install-time host name (meaningless here)
DELETE FROM mysql.proxies_priv WHERE Host NOT IN ('localhost');
FLUSH PRIVILEGES;
