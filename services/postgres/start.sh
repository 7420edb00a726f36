#!/bin/sh
# Start PostgreSQL on the data volume, creating the cluster on the first
# start. Runs as the image's user (nua), who owns the volume.
set -eu
bin=/nua/app/bin
if [ ! -s "$PGDATA/PG_VERSION" ]; then
	# The superuser's password: from the environment, through a file that
	# only this user can read, never on a command line.
	pwfile=$(mktemp)
	chmod 600 "$pwfile"
	printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
	"$bin/initdb" -D "$PGDATA" -U postgres --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 \
		--auth-local=trust --auth-host=scram-sha-256 >/dev/null
	rm -f "$pwfile"
	cat >>"$PGDATA/postgresql.conf" <<-CONF
	listen_addresses = '*'
	unix_socket_directories = '/tmp'
	password_encryption = 'scram-sha-256'
	CONF
	echo "host all all 0.0.0.0/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
	echo "postgres: created the cluster in $PGDATA"
fi
exec "$bin/postgres" -D "$PGDATA"
