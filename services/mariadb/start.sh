#!/bin/sh
# Start MariaDB on the data volume, creating its system tables on the
# first start. Runs as the image's user (nua), who owns the volume. The
# root password goes through a file only this user can read, never on a
# command line.
set -eu
data=/data
sock=/tmp/mysqld.sock
if [ ! -d "$data/mysql" ]; then
	mariadb-install-db --datadir="$data" --auth-root-authentication-method=normal \
		--skip-test-db >/dev/null
	# A first run without networking, to set the root password, on a
	# socket of its own (the health check must not take it for the
	# server).
	init_sock=/tmp/mysqld-init.sock
	mariadbd --datadir="$data" --socket="$init_sock" --skip-networking \
		--pid-file=/tmp/mariadb-init.pid &
	pid=$!
	i=0
	until mariadb-admin --socket="$init_sock" -uroot ping >/dev/null 2>&1; do
		i=$((i + 1))
		[ "$i" -lt 300 ] || { echo "mariadb: the first run did not start" >&2; exit 1; }
		sleep 0.1
	done
	umask 077
	printf "ALTER USER 'root'@'localhost' IDENTIFIED BY '%s';\nFLUSH PRIVILEGES;\n" \
		"$MARIADB_ROOT_PASSWORD" >/tmp/init.sql
	mariadb --socket="$init_sock" -uroot </tmp/init.sql
	rm -f /tmp/init.sql
	kill "$pid"
	wait "$pid" || true
	echo "mariadb: created the system tables in $data"
fi
exec mariadbd --datadir="$data" --socket="$sock" --bind-address=0.0.0.0 --port=3306 \
	--skip-name-resolve --pid-file=/tmp/mariadb.pid
