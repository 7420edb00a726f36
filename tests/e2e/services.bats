#!/usr/bin/env bats
# The resource servers of services/ (PostgreSQL, MariaDB, Redis), built by
# Nua from Debian's packages and run as instances: they start, pass their
# own health checks, keep their data in their volume across restarts, and
# are reachable by other instances only (no route).

load helpers
load server

# Run a command in instance $1's container (its mount, network and pid
# namespaces), as the app's user.
in_ctr() {
	local pid
	pid=$("$NUA" status --json "$1" | jq -r .pid)
	shift
	nsenter -t "$pid" -m -n -p -S 1000 -G 1000 -- "$@"
}

secret() {
	"$NUA" env --json --show-secrets "$1" | jq -r ".$2"
}

deploy_service() {
	run "$NUA" deploy "$NUA_TOP/services/$1" --name "$1"
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	[ "$("$NUA" status --json "$1" | jq -r .health)" = healthy ]
	[ ! -e "$NUA_ROOT/nginx/routes/$1.json" ]
}

@test "services: PostgreSQL keeps its data across a restart" {
	deploy_service postgres
	pw=$(secret postgres POSTGRES_PASSWORD)
	[ ${#pw} -eq 32 ]
	ip=$("$NUA" status --json postgres | jq -r .ip)
	PGPASSWORD=$pw psql -h "$ip" -U postgres -qc "create table t (x text); insert into t values ('kept')"
	# A wrong password is refused.
	run env PGPASSWORD=wrong psql -h "$ip" -U postgres -tAc "select 1"
	[ "$status" -ne 0 ]
	"$NUA" restart postgres
	[ "$("$NUA" status --json postgres | jq .generation)" = 2 ]
	ip=$("$NUA" status --json postgres | jq -r .ip)
	[ "$(PGPASSWORD=$pw psql -h "$ip" -U postgres -tAc "select x from t")" = kept ]
}

@test "services: Redis keeps its data across a restart" {
	deploy_service redis
	pw=$(secret redis REDIS_PASSWORD)
	[ "$(in_ctr redis env REDISCLI_AUTH="$pw" redis-cli -h 127.0.0.1 set k kept)" = OK ]
	run in_ctr redis redis-cli -h 127.0.0.1 get k
	[[ "$output" == *NOAUTH* ]]
	"$NUA" restart redis
	[ "$(in_ctr redis env REDISCLI_AUTH="$pw" redis-cli -h 127.0.0.1 get k)" = kept ]
}

@test "services: MariaDB keeps its data across a restart" {
	deploy_service mariadb
	pw=$(secret mariadb MARIADB_ROOT_PASSWORD)
	in_ctr mariadb env MYSQL_PWD="$pw" mariadb --socket=/tmp/mysqld.sock -uroot \
		-e "create database d; create table d.t (x text); insert into d.t values ('kept')"
	run in_ctr mariadb env MYSQL_PWD=wrong mariadb --socket=/tmp/mysqld.sock -uroot -e "select 1"
	[ "$status" -ne 0 ]
	"$NUA" restart mariadb
	[ "$(in_ctr mariadb env MYSQL_PWD="$pw" mariadb --socket=/tmp/mysqld.sock -uroot -N -e "select x from d.t")" = kept ]
}

@test "services: a new version that does not start gives the old one back" {
	# Without a web port the old generation stops first (they share the
	# volume); when the new one fails, the previous spec starts again.
	run "$NUA" env redis REDIS_PASSWORD=
	[ "$status" -eq 1 ]
	[[ "$output" == *"previous one was started again"* ]]
	[ "$("$NUA" status --json redis | jq -r .state)" = running ]
	pw=$(secret redis REDIS_PASSWORD)
	[ ${#pw} -eq 32 ]
	[ "$(in_ctr redis env REDISCLI_AUTH="$pw" redis-cli -h 127.0.0.1 get k)" = kept ]
}
