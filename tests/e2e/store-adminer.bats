#!/usr/bin/env bats
# Adminer from the store: behind the admin's login, it logs in to the
# MariaDB database of a sample app with that app's own credentials, reads
# and writes its table; the app is backed up and restored, seen through
# Adminer.
load helpers
load server
load store

# Adminer's pages, with the admin's login in front.
adminer() { web adminer -u "admin:$(secret adminer ADMIN_PASSWORD)" "$@"; }

# The CSRF token of the form on the page $1.
adminer_token() {
	adminer "$1" | sed -n "s/.*name='token' value='\([0-9]*:[0-9]*\)'.*/\1/p" | head -1
}

# Log in to server $1 as user $2 with password $3, database $4; prints the
# title of the page it lands on.
adminer_login() {
	local token
	token=$(adminer_token "$base/")
	[ -n "$token" ]
	adminer -L -d "auth[driver]=server&token=$token" --data-urlencode "auth[server]=$1" \
		--data-urlencode "auth[username]=$2" --data-urlencode "auth[password]=$3" \
		--data-urlencode "auth[db]=$4" "$base/" | sed -n 's/.*<title>\([^<]*\)<\/title>.*/\1/p'
}

# Run the SQL $1 on the guestbook's database through the SQL command page;
# prints Adminer's message.
adminer_sql() {
	local page="$base/?server=nua-mariadb&username=gb_sql&db=gb_sql&sql=" token
	token=$(adminer_token "$page")
	[ -n "$token" ]
	adminer -d "token=$token" --data-urlencode "query=$1" "$page" |
		sed -n "s/.*<p class='message'[^>]*>\([^<]*\)<.*/\1/p"
}

# The names in the guestbook's table, as Adminer's select page shows them.
adminer_names() {
	adminer "$base/?server=nua-mariadb&username=gb_sql&db=gb_sql&select=book" |
		grep -o "<td id='val\[[^]]*\]\[name\]'[^>]*>[^<]*</td>" | sed 's/.*>\([^<]*\)<\/td>/\1/' | paste -sd,
}

@test "store: adminer installs; it opens the guestbook's database, reads and writes it, backed up and restored" {
	store_install adminer
	[[ $output == *"Adminer 4.8.1-1 installed as adminer: http://adminer.localhost:$NUA_HTTP_PORT/"* ]]
	[[ $output == *"admin login:    admin"* ]]
	local pw gbpw
	pw=$(secret adminer ADMIN_PASSWORD)
	[[ $output == *"admin password: $pw"* ]]
	# Nothing without the admin's login; with it, Adminer's login form,
	# which offers Nua's database servers.
	[ "$(web adminer -o /dev/null -w '%{http_code}' "$base/")" = 401 ]
	[ "$(web adminer -o /dev/null -w '%{http_code}' -u admin:wrong "$base/")" = 401 ]
	page=$(adminer "$base/")
	[[ $page == *"<title>Login - Adminer</title>"* ]]
	[[ $page == *"<option>nua-mariadb<option>nua-postgres</select>"* ]]

	# A sample app with a MariaDB database, signed once.
	run "$NUA" deploy "$NUA_TOP/apps/guestbook-mariadb" --name gb
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(web gb -d ada "$base/")" = signed ]
	gbpw=$(secret gb SQL_PASSWORD)
	[ "$(secret gb SQL_USER)" = gb_sql ]
	# A wrong password, a server that is not Nua's: refused.
	[ "$(adminer_login nua-mariadb gb_sql wrong gb_sql)" = "Login - nua-mariadb - Adminer" ]
	[ "$(adminer_login 127.0.0.1 gb_sql "$gbpw" gb_sql)" = "Login - Adminer" ]
	# Its own credentials open its database; the table is read.
	[ "$(adminer_login nua-mariadb gb_sql "$gbpw" gb_sql)" = "Database: gb_sql - nua-mariadb - Adminer" ]
	[ "$(adminer_names)" = ada ]
	# A row written through the SQL command page, seen by the app too.
	[ "$(adminer_sql "INSERT INTO book (name) VALUES ('grace')")" = "Query executed OK, 1 row affected. " ]
	[ "$(adminer_names)" = ada,grace ]
	[ "$(web gb "$base/")" = '["ada", "grace"]' ]

	# The guestbook backed up, another row, restored: that row is gone.
	"$NUA" backup gb >/dev/null
	[ "$(adminer_sql "INSERT INTO book (name) VALUES ('linus')")" = "Query executed OK, 1 row affected. " ]
	[ "$(adminer_names)" = ada,grace,linus ]
	"$NUA" restore gb >/dev/null
	[ "$(adminer_names)" = ada,grace ]
	[ "$(web gb "$base/")" = '["ada", "grace"]' ]

	# PostgreSQL too: Adminer's own database there.
	rm -f "$BATS_TEST_TMPDIR/jar"
	local token
	token=$(adminer_token "$base/")
	[ "$(adminer -L -d "auth[driver]=pgsql&auth[server]=nua-postgres&token=$token" \
		--data-urlencode "auth[username]=$(secret adminer POSTGRES_USER)" \
		--data-urlencode "auth[password]=$(secret adminer POSTGRES_PASSWORD)" \
		--data-urlencode "auth[db]=$(secret adminer POSTGRES_DB)" "$base/" |
		sed -n 's/.*<title>\([^<]*\)<\/title>.*/\1/p')" = "Schema: public - nua-postgres - Adminer" ]
}
