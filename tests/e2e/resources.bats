#!/usr/bin/env bats
# Backing services attached to instances: a [[resource]] gets a database
# and a user of its own on a server Nua runs (services/), injected as
# environment variables. A real daemon, servers and apps on a private root.

load helpers
load server

notes() { # notes INSTANCE [BODY]: GET, or POST BODY to /notes
	if [ $# -eq 2 ]; then
		curl -s -m 10 -H "Host: $1.localhost" -d "$2" "http://127.0.0.1:$NUA_HTTP_PORT/notes"
	else
		curl -s -m 10 -H "Host: $1.localhost" "http://127.0.0.1:$NUA_HTTP_PORT/notes"
	fi
}

secret() { "$NUA" env --json --show-secrets "$1" | jq -r ".$2"; }

pg() { # pg USER PASSWORD DB SQL
	PGPASSWORD=$2 psql -h "$("$NUA" status --json nua-postgres | jq -r .ip)" -U "$1" -d "$3" -tAc "$4"
}

@test "resources: a PostgreSQL app stores and reads its data through its database" {
	run "$NUA" deploy "$NUA_TOP/apps/notes-pg" --name n1
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ "$output" == *"starting the postgres server (nua-postgres)"* ]]
	[ "$("$NUA" status --json nua-postgres | jq -r .state)" = running ]
	[ "$(notes n1 'first note')" = stored ]
	[ "$(notes n1)" = '["first note"]' ]
	# Its variables: secrets hidden, the URL pointing at its own database.
	run "$NUA" env n1
	[[ "$output" == *"DB_PASSWORD=(secret"* ]]
	[[ "$output" == *"DB_USER=n1_db"* ]]
	[[ "$output" == *"DB_HOST_SEEN=nua-postgres"* ]]
	url=$(secret n1 DATABASE_URL)
	[[ "$url" == "postgresql://n1_db:"*"@nua-postgres:5432/n1_db" ]]
	[ "$(secret n1 DB_URL)" = "$url" ]
	# Stored encrypted: the password is not in the database file.
	pw=$(secret n1 DB_PASSWORD)
	run grep -c "$pw" "$NUA_ROOT/nua.db"
	[ "$output" = 0 ]
}

@test "resources: the data stays through a restart and a redeploy, with the same password" {
	pw=$(secret n1 DB_PASSWORD)
	"$NUA" restart n1
	[ "$(notes n1)" = '["first note"]' ]
	"$NUA" deploy "$NUA_TOP/apps/notes-pg" --name n1 -e PORT=8080
	[ "$(notes n1)" = '["first note"]' ]
	[ "$(secret n1 DB_PASSWORD)" = "$pw" ]
}

@test "resources: two instances have their own databases and cannot read each other's" {
	"$NUA" deploy notes-pg:1.0-1 --name n2
	[ "$(notes n2)" = '[]' ]
	notes n2 'second'
	[ "$(notes n1)" = '["first note"]' ]
	pw2=$(secret n2 DB_PASSWORD)
	[ "$(pg n2_db "$pw2" n2_db 'select count(*) from notes')" = 1 ]
	run pg n2_db "$pw2" n1_db 'select count(*) from notes'
	[ "$status" -ne 0 ]
	[[ "$output" == *"permission denied for database"* ]]
	run pg n1_db wrong n1_db 'select 1'
	[ "$status" -ne 0 ]
	[[ "$output" == *"password authentication failed"* ]]
}

@test "resources: a resource on a server the operator runs: nothing provisioned, same variables" {
	# An "external" server: here Nua's own, with a user and database made
	# by hand, at its address rather than its name.
	pgpw=$(secret nua-postgres POSTGRES_PASSWORD)
	pg postgres "$pgpw" postgres "create role ext login password 'ext-pw-1'"
	pg postgres "$pgpw" postgres "create database extdb owner ext"
	ip=$("$NUA" status --json nua-postgres | jq -r .ip)
	run "$NUA" deploy notes-pg:1.0-1 --name n3 --resource "db=postgresql://ext:bad@$ip:99999/extdb"
	[ "$status" -eq 2 ]
	[[ "$output" == *"resource 'db': the port in the URL"* ]]
	[[ "$output" != *bad@* ]]
	run "$NUA" deploy notes-pg:1.0-1 --name n3 --resource "nope=postgresql://ext:x@$ip/extdb"
	[ "$status" -eq 2 ]
	[[ "$output" == *"--resource nope: the package has no resource of that name"* ]]
	run "$NUA" deploy notes-pg:1.0-1 --name n3 --resource "db=postgresql://ext:ext-pw-1@$ip:5432/extdb"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(secret n3 DB_HOST)" = "$ip" ]
	[ "$(secret n3 DB_USER)" = ext ]
	[ "$(secret n3 DATABASE_URL)" = "postgresql://ext:ext-pw-1@$ip:5432/extdb" ]
	notes n3 'outside'
	[ "$(pg ext ext-pw-1 extdb 'select body from notes')" = outside ]
	# Nua made no user of its own for it, and removing it drops nothing.
	[ "$(pg postgres "$pgpw" postgres "select count(*) from pg_roles where rolname = 'n3_db'")" = 0 ]
	"$NUA" rm --purge n3
	[ "$(pg ext ext-pw-1 extdb 'select count(*) from notes')" = 1 ]
}

@test "resources: a resource may ask for a server of its own, which goes with the instance" {
	pkg=$BATS_TEST_TMPDIR/solo
	cp -r "$NUA_TOP/apps/notes-pg" "$pkg"
	sed -i 's/^id = "notes-pg"/id = "solo"/; s/^type = "postgres"/type = "postgres"\ndedicated = true/' \
		"$pkg/nua-config.toml"
	run "$NUA" deploy "$pkg" --name solo
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(secret solo DB_HOST)" = nua-solo-db ]
	[ "$("$NUA" status --json nua-solo-db | jq -r .state)" = running ]
	[ "$(notes solo 'alone')" = stored ]
	[ "$(notes solo)" = '["alone"]' ]
	run "$NUA" resources
	[[ "$output" == *"nua-solo-db"*"postgres"*"solo (db)"* ]]
	"$NUA" rm --purge solo
	run "$NUA" status nua-solo-db
	[ "$status" -eq 2 ]
}

@test "resources: a dump and a restore of one instance's database round-trip" {
	dumpf=$BATS_TEST_TMPDIR/n1.sql
	run "$NUA" resources dump n1 db "$dumpf"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(stat -c %a "$dumpf")" = 600 ]
	# PostgreSQL's custom format, uncompressed.
	[ "$(head -c 5 "$dumpf")" = PGDMP ]
	grep -q "first note" "$dumpf"
	notes n1 'after the dump'
	[ "$(notes n1)" = '["first note", "after the dump"]' ]
	run "$NUA" resources restore n1 db "$dumpf"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(notes n1)" = '["first note"]' ]
	# The restored objects are the instance's: it still writes.
	[ "$(notes n1 'after the restore')" = stored ]
	# A dump as SQL (what older versions of Nua wrote) restores too.
	PGPASSWORD=$(secret n1 DB_PASSWORD) pg_dump -h "$("$NUA" status --json nua-postgres | jq -r .ip)" \
		-U n1_db --clean --if-exists --no-owner --no-privileges n1_db >"$BATS_TEST_TMPDIR/n1-plain.sql"
	notes n1 'after the plain dump'
	"$NUA" resources restore n1 db "$BATS_TEST_TMPDIR/n1-plain.sql"
	[ "$(notes n1)" = '["first note", "after the restore"]' ]
	# n2's database was not touched.
	[ "$(notes n2)" = '["second"]' ]
	run "$NUA" resources dump n1 nope "$dumpf"
	[ "$status" -eq 2 ]
	[[ "$output" == *"'n1' has no resource named 'nope'"* ]]
}

@test "resources: the server cannot go while an instance uses it; rm keeps the data, --purge drops it" {
	run "$NUA" rm nua-postgres
	[ "$status" -eq 2 ]
	[[ "$output" == *"is used by instance"* ]]
	pgpw=$(secret nua-postgres POSTGRES_PASSWORD)
	"$NUA" rm n1
	[ "$(notes n2)" = '["second"]' ]
	[ "$(pg postgres "$pgpw" postgres "select rolcanlogin from pg_roles where rolname = 'n1_db'")" = f ]
	[ "$(pg postgres "$pgpw" postgres "select count(*) from pg_database where datname = 'n1_db'")" = 1 ]
	"$NUA" rm --purge n2
	[ "$(pg postgres "$pgpw" postgres "select count(*) from pg_roles where rolname = 'n2_db'")" = 0 ]
	[ "$(pg postgres "$pgpw" postgres "select count(*) from pg_database where datname = 'n2_db'")" = 0 ]
	# A reserved name is refused to anyone else.
	run "$NUA" deploy notes-pg:1.0-1 --name nua-mine
	[ "$status" -eq 2 ]
	[[ "$output" == *"Nua keeps for its resource servers"* ]]
}

get() { curl -s -m 10 -H "Host: $1.localhost" "http://127.0.0.1:$NUA_HTTP_PORT$2"; }
post() { curl -s -m 10 -H "Host: $1.localhost" -d "$3" "http://127.0.0.1:$NUA_HTTP_PORT$2"; }

@test "resources: a first deploy that fails takes its new database with it, not a removed instance's" {
	pgpw=$(secret nua-postgres POSTGRES_PASSWORD)
	# The app cannot start: the deploy fails and nothing of it stays,
	# its database and user included.
	run "$NUA" deploy notes-pg:1.0-1 --name broken --env PORT=abc
	[ "$status" -ne 0 ]
	[[ $output == *"cannot deploy 'broken'"* ]]
	[ "$(pg postgres "$pgpw" postgres "select count(*) from pg_database where datname = 'broken_db'")" = 0 ]
	[ "$(pg postgres "$pgpw" postgres "select count(*) from pg_roles where rolname = 'broken_db'")" = 0 ]
	# n1 was removed without --purge: its data waits for it. A failed
	# deploy under that name leaves it.
	run "$NUA" deploy notes-pg:1.0-1 --name n1 --env PORT=abc
	[ "$status" -ne 0 ]
	[ "$(pg postgres "$pgpw" postgres "select count(*) from pg_database where datname = 'n1_db'")" = 1 ]
}

@test "resources: a MariaDB app keeps its guestbook through a restart and a redeploy" {
	run "$NUA" deploy "$NUA_TOP/apps/guestbook-mariadb" --name gb
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(post gb / ada)" = signed ]
	"$NUA" restart gb
	[ "$(get gb /)" = '["ada"]' ]
	"$NUA" deploy "$NUA_TOP/apps/guestbook-mariadb" --name gb
	[ "$(get gb /)" = '["ada"]' ]
	# A dump and a restore round-trip.
	"$NUA" resources dump gb sql "$BATS_TEST_TMPDIR/gb.sql"
	post gb / grace
	[ "$(get gb /)" = '["ada", "grace"]' ]
	"$NUA" resources restore gb sql "$BATS_TEST_TMPDIR/gb.sql"
	[ "$(get gb /)" = '["ada"]' ]
	[[ "$(secret gb DATABASE_URL)" == "mysql://gb_sql:"*"@nua-mariadb:3306/gb_sql" ]]
}

@test "resources: a Redis app keeps its counters through a restart and a redeploy" {
	run "$NUA" deploy "$NUA_TOP/apps/visits-redis" --name vis
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(get vis /home)" = 1 ]
	[ "$(get vis /home)" = 2 ]
	"$NUA" restart vis
	[ "$(get vis /home)" = 3 ]
	"$NUA" deploy "$NUA_TOP/apps/visits-redis" --name vis
	[ "$(get vis /home)" = 4 ]
	# A dump of its keys, and a restore that replaces them.
	"$NUA" resources dump vis cache "$BATS_TEST_TMPDIR/vis.redis"
	grep -q '^SET "visits/home" "4"$' "$BATS_TEST_TMPDIR/vis.redis"
	[ "$(get vis /home)" = 5 ]
	[ "$(get vis /other)" = 1 ]
	"$NUA" resources restore vis cache "$BATS_TEST_TMPDIR/vis.redis"
	[ "$(get vis /home)" = 5 ]
	[ "$(get vis /other)" = 1 ]
	# Any bytes, and the other types, survive the round trip.
	pw=$(secret vis CACHE_PASSWORD)
	rp=$("$NUA" status --json nua-redis | jq .pid)
	rc() { nsenter -t "$rp" -m -n -p -- redis-cli -h 127.0.0.1 --no-auth-warning --user vis_cache --pass "$pw" "$@"; }
	odd=$(printf 'a "quoted" \\ back\nslash \001\377 end')
	rc set vis_cache:odd "$odd" >/dev/null
	rc hset vis_cache:h f1 v1 f2 "two words" >/dev/null
	rc rpush vis_cache:l x y z >/dev/null
	rc zadd vis_cache:z 1.5 m >/dev/null
	"$NUA" resources dump vis cache "$BATS_TEST_TMPDIR/vis2.redis"
	rc del vis_cache:odd vis_cache:h vis_cache:l vis_cache:z >/dev/null
	"$NUA" resources restore vis cache "$BATS_TEST_TMPDIR/vis2.redis"
	[ "$(rc --raw get vis_cache:odd)" = "$odd" ]
	[ "$(rc hget vis_cache:h f2)" = "two words" ]
	[ "$(rc lrange vis_cache:l 0 -1 | tr '\n' ' ')" = "x y z " ]
	[ "$(rc zscore vis_cache:z m)" = 1.5 ]
	"$NUA" rm --purge vis
}

@test "resources: a server that cannot start fails the deploy with its lines, leaving nothing" {
	# A second server whose postgres package fails at start.
	svc=$BATS_TEST_TMPDIR/services
	mkdir -p "$svc"
	cp -r "$NUA_TOP/services/postgres" "$svc/"
	printf '#!/bin/sh\necho "broken server: refusing to start"\nexit 3\n' >"$svc/postgres/start.sh"
	export NUA_ROOT=$BATS_TEST_TMPDIR/root2 NUA_RUN=$BATS_TEST_TMPDIR/r2 NUA_HTTP_PORT=$(free_port)
	export NUA_SERVICES=$svc
	mkdir -p "$NUA_ROOT" "$NUA_RUN"
	nua_start_daemon
	run "$NUA" deploy "$NUA_TOP/apps/notes-pg" --name nb
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot start the postgres server"* ]]
	[[ "$output" == *"broken server: refusing to start"* ]]
	[ "$("$NUA" ls --json)" = "[]" ]
	[ ! -e "$NUA_ROOT/instances/nb" ]
}

@test "resources: an app with two resources, Redis and PostgreSQL" {
	run "$NUA" deploy "$NUA_TOP/apps/counter-redis" --name cnt
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(get cnt /count/a)" = 1 ]
	[ "$(get cnt /count/a)" = 2 ]
	[ "$(post cnt /log hello)" = logged ]
	"$NUA" restart cnt
	[ "$(get cnt /count/a)" = 3 ]
	[ "$(get cnt /log)" = '["hello"]' ]
	"$NUA" deploy "$NUA_TOP/apps/counter-redis" --name cnt
	[ "$(get cnt /count/a)" = 4 ]
	[ "$(get cnt /log)" = '["hello"]' ]
	[[ "$(secret cnt REDIS_URL)" == "redis://cnt_cache:"*"@nua-redis:6379/0" ]]
	[[ "$(secret cnt DATABASE_URL)" == "postgresql://cnt_db:"*"@nua-postgres:5432/cnt_db" ]]
	run "$NUA" resources
	[[ "$output" == *"nua-redis"*"redis"*"running"*"cnt (cache)"* ]]
	[[ "$output" == *"nua-postgres"*"cnt (db)"* ]]
}

@test "resources: resources named 'database' and 'redis', as most Nua packages name them" {
	# counter-redis with the resource names of the Python Nua's samples:
	# their own NAME_URL is DATABASE_URL and REDIS_URL.
	pkg=$BATS_TEST_TMPDIR/shape
	cp -r "$NUA_TOP/apps/counter-redis" "$pkg"
	sed -i 's/^id = "counter-redis"/id = "shape"/; s/^name = "cache"/name = "redis"/; s/^name = "db"/name = "database"/' \
		"$pkg/nua-config.toml"
	sed -i 's/CACHE_PREFIX/REDIS_PREFIX/' "$pkg/app.py"
	run "$NUA" deploy "$pkg" --name shape
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(get shape /count/a)" = 1 ]
	[ "$(post shape /log held-out)" = logged ]
	[ "$(get shape /log)" = '["held-out"]' ]
	[[ "$(secret shape DATABASE_URL)" == "postgresql://shape_database:"*"@nua-postgres:5432/shape_database" ]]
	[[ "$(secret shape REDIS_URL)" == "redis://shape_redis:"*"@nua-redis:6379/0" ]]
	[ "$(secret shape DATABASE_PASSWORD)" = "$(secret shape DATABASE_URL | sed 's|.*:\(.*\)@.*|\1|')" ]
	# A redeploy keeps them.
	"$NUA" deploy "$pkg" --name shape
	[ "$(get shape /count/a)" = 2 ]
	[ "$(get shape /log)" = '["held-out"]' ]
	"$NUA" rm --purge shape
}

@test "resources: Redis and MariaDB users are confined to their own keys and database" {
	cpw=$(secret cnt CACHE_PASSWORD)
	spw=$(secret gb SQL_PASSWORD)
	rp=$("$NUA" status --json nua-redis | jq .pid)
	mp=$("$NUA" status --json nua-mariadb | jq .pid)
	rc() { nsenter -t "$rp" -m -n -p -- redis-cli -h 127.0.0.1 --no-auth-warning "$@"; }
	[ "$(rc --user cnt_cache --pass "$cpw" get cnt_cache:a)" = 4 ]
	[[ "$(rc --user cnt_cache --pass "$cpw" set other:k v)" == NOPERM* ]]
	[[ "$(rc --user cnt_cache --pass wrong get cnt_cache:a 2>&1)" == *WRONGPASS* ]]
	my() { nsenter -t "$mp" -m -n -p -- env MYSQL_PWD="$1" mariadb -h 127.0.0.1 -u gb_sql -N "${@:2}"; }
	[ "$(my "$spw" gb_sql -e 'select name from book')" = ada ]
	[ "$(my "$spw" -e 'show databases' | grep -vc information_schema)" = 1 ]
	run my wrong gb_sql -e 'select 1'
	[ "$status" -ne 0 ]
	# --purge takes the keys and the database with it.
	"$NUA" rm --purge cnt
	"$NUA" rm --purge gb
	[ -z "$(rc --user default --pass "$(secret nua-redis REDIS_PASSWORD)" keys 'cnt_cache:*')" ]
	mpw=$(secret nua-mariadb MARIADB_ROOT_PASSWORD)
	[ "$(nsenter -t "$mp" -m -n -p -- env MYSQL_PWD="$mpw" mariadb --socket=/tmp/mysqld.sock -uroot -N -e "show databases like 'gb_sql'")" = "" ]
}
