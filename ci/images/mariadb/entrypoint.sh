#!/bin/sh
# MariaDB 10.11 test server in the foreground on all interfaces (port 3306). On first
# start it initialises /var/lib/mysql and creates, from the environment (defaults match
# ci/start-mysql): $MARIADB_USER/$MARIADB_PASSWORD (authstore/authstore) with all
# privileges on *.* (every scenario creates and drops its own database), the database
# $MARIADB_DATABASE (authstore), and root/$MARIADB_ROOT_PASSWORD (root) from any host.
# Extra arguments go to mariadbd.
set -eu
user=${MARIADB_USER:-authstore}
password=${MARIADB_PASSWORD:-authstore}
database=${MARIADB_DATABASE:-authstore}
root_password=${MARIADB_ROOT_PASSWORD:-root}
datadir=/var/lib/mysql
for v in "$user" "$password" "$database" "$root_password"; do
  case "$v" in
    *\'* | *\\* | *\`* | '') echo "entrypoint: empty value or quote/backslash in MARIADB_* variables" >&2; exit 1 ;;
  esac
done

mkdir -p "$datadir" /run/mysqld
chown mysql:mysql "$datadir" /run/mysqld
set --  --user=mysql --datadir="$datadir" --bind-address=0.0.0.0 --port=3306 \
  --skip-name-resolve "$@"
if [ ! -d "$datadir/mysql" ]; then
  mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db \
    --skip-name-resolve >/dev/null
  # Runs once, inside the server before it accepts connections.
  init=/run/mysqld/init.sql
  cat >"$init" <<SQL
ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('$root_password');
CREATE USER 'root'@'%' IDENTIFIED BY '$root_password';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;
CREATE USER '$user'@'%' IDENTIFIED BY '$password';
GRANT ALL PRIVILEGES ON *.* TO '$user'@'%';
CREATE DATABASE IF NOT EXISTS \`$database\`;
FLUSH PRIVILEGES;
SQL
  chown mysql:mysql "$init"
  chmod 600 "$init"
  set -- "$@" --init-file="$init"
fi
exec mariadbd "$@"
