#!/usr/bin/env bats
# The store: nua store lists and searches the applications that come with
# Nua, nua install builds and deploys one in one command and prints its
# admin's credentials; each app, end to end: its page, a login with the
# generated admin, a write read back, a backup, a change, a restore.
#
# The daemon reads the store from NUA_STORE: here the project's store plus
# one package whose build cannot succeed.

load helpers
load server
load store

export NUA_STORE=$BATS_FILE_TMPDIR/store

setup_file() {
	mkdir -p "$NUA_STORE"
	local app
	for app in "$NUA_TOP"/store/*/; do
		ln -s "${app%/}" "$NUA_STORE/$(basename "$app")"
	done
	mkdir -p "$NUA_STORE/unbuildable"
	cat >"$NUA_STORE/unbuildable/nua-config.toml" <<-'TOML'
	[metadata]
	id = "unbuildable"
	version = "1.0"
	tagline = "Needs a Debian package that does not exist"
	[run]
	packages = ["nua-no-such-package"]
	start = "true"
	TOML
	nua_require_runtime || return 0
	nua_setup_server
}

# DokuWiki: log in as its admin, save PAGE with TEXT.
dokuwiki_login() {
	web "$1" -o /dev/null -d "do=login&id=start" --data-urlencode "u=$(secret "$1" ADMIN_USER)" \
		--data-urlencode "p=$(secret "$1" ADMIN_PASSWORD)" "http://127.0.0.1:$NUA_HTTP_PORT/doku.php"
	web "$1" "http://127.0.0.1:$NUA_HTTP_PORT/doku.php?id=start" | grep -q 'Logged in as: <bdi>Administrator'
}

dokuwiki_save() {
	local form tok date cc
	form=$(web "$1" "http://127.0.0.1:$NUA_HTTP_PORT/doku.php?id=$2&do=edit")
	tok=$(sed -n 's/.*name="sectok" value="\([0-9a-f]*\)".*/\1/p' <<<"$form" | head -1)
	date=$(sed -n 's/.*name="date" value="\([0-9]*\)".*/\1/p' <<<"$form" | head -1)
	cc=$(sed -n 's/.*name="changecheck" value="\([0-9a-f]*\)".*/\1/p' <<<"$form" | head -1)
	[ -n "$tok" ] && [ -n "$cc" ]
	web "$1" -o /dev/null -d "sectok=$tok&id=$2&rev=0&date=$date&prefix=.&suffix=&changecheck=$cc" \
		--data-urlencode "wikitext=$3" --data-urlencode "summary=nua test" \
		--data-urlencode "do[save]=1" "http://127.0.0.1:$NUA_HTTP_PORT/doku.php"
}

dokuwiki_raw() {
	web "$1" "http://127.0.0.1:$NUA_HTTP_PORT/doku.php?id=$2&do=export_raw"
}

@test "store: nua store lists and searches the apps, with versions and what they need" {
	run "$NUA" store
	[ "$status" -eq 0 ]
	[[ ${lines[0]} == "APP "*"VERSION"*"NEEDS"*"SUMMARY" ]]
	[[ $output == *"dokuwiki "*"2022-07-31a-1"*"A wiki that keeps its pages in plain files"* ]]
	"$NUA" store --json | jq -e '.[] | select(.id == "dokuwiki") |
		.title == "DokuWiki" and .license == "GPL-2.0-or-later" and .admin and
		(.tags | index("wiki")) and .icon == "icon.svg" and .resources == []'
	"$NUA" store --json WIKI | jq -e 'map(.id) | index("dokuwiki")'
	"$NUA" store --json nothing-matches-this | jq -e 'length == 0'
}

@test "store: dokuwiki installs in one command; its admin logs in, a page is saved, backed up and restored" {
	run "$NUA" install dokuwiki
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ $output == *"DokuWiki 2022-07-31a-1 installed as dokuwiki: http://dokuwiki.localhost:$NUA_HTTP_PORT/"* ]]
	[[ $output == *"admin login:    admin"* ]]
	password=$(secret dokuwiki ADMIN_PASSWORD)
	[ ${#password} -eq 20 ]
	[[ $output == *"admin password: $password"* ]]
	# The generated password is sealed, and in no log or event.
	! grep -rqF "$password" "$NUA_ROOT/daemon.log" "$NUA_ROOT/nua.db" || false
	! "$NUA" events --since 0 --json | grep -qF "$password" || false
	# Its own page, through nginx.
	[[ $(web dokuwiki "http://127.0.0.1:$NUA_HTTP_PORT/doku.php") == *"<title>start [DokuWiki]</title>"* ]]
	# Anonymous visitors read but cannot edit; the admin can.
	[[ $(web dokuwiki "http://127.0.0.1:$NUA_HTTP_PORT/doku.php?id=nua:test&do=edit") != *'name="wikitext"'* ]]
	dokuwiki_login dokuwiki
	dokuwiki_save dokuwiki nua:test "First version, from the Nua tests"
	[ "$(dokuwiki_raw dokuwiki nua:test)" = "First version, from the Nua tests" ]
	# Backed up, changed, restored: the change is gone.
	"$NUA" backup dokuwiki >/dev/null
	dokuwiki_save dokuwiki nua:test "Second version"
	[ "$(dokuwiki_raw dokuwiki nua:test)" = "Second version" ]
	"$NUA" restore dokuwiki >/dev/null
	[ "$(dokuwiki_raw dokuwiki nua:test)" = "First version, from the Nua tests" ]
	# The admin is still the admin (the users' volume came back too).
	rm -f "$BATS_TEST_TMPDIR/jar"
	dokuwiki_login dokuwiki
}

# An iCalendar event whose summary is $1.
event() {
	printf 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Nua tests//EN\r\nBEGIN:VEVENT\r\nUID:%s@nua-tests\r\nDTSTAMP:20261207T120000Z\r\nDTSTART:20261224T180000Z\r\nDTEND:20261224T200000Z\r\nSUMMARY:%s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n' "$2" "$1"
}

@test "store: radicale installs; its user makes a calendar and stores events, backed up and restored" {
	run "$NUA" install radicale
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ $output == *"Radicale 3.1.8-1 installed as radicale"* && $output == *"admin login:    admin"* ]]
	local base=http://127.0.0.1:$NUA_HTTP_PORT pw
	pw=$(secret radicale ADMIN_PASSWORD)
	[[ $(web radicale "$base/.web/") == *"Radicale"* ]]
	# The generated password opens it; another does not.
	[ "$(web radicale -o /dev/null -w '%{http_code}' -u admin:wrong -X PROPFIND "$base/admin/")" = 401 ]
	[ "$(web radicale -o /dev/null -w '%{http_code}' -u "admin:$pw" -X MKCALENDAR "$base/admin/home/")" = 201 ]
	[ "$(event "Christmas dinner" dinner | web radicale -o /dev/null -w '%{http_code}' -u "admin:$pw" \
		-X PUT -H "Content-Type: text/calendar" --data-binary @- "$base/admin/home/dinner.ics")" = 201 ]
	[[ $(web radicale -u "admin:$pw" "$base/admin/home/dinner.ics") == *"SUMMARY:Christmas dinner"* ]]
	"$NUA" backup radicale >/dev/null
	event "Boxing day" boxing | web radicale -o /dev/null -u "admin:$pw" -X PUT \
		-H "Content-Type: text/calendar" --data-binary @- "$base/admin/home/boxing.ics"
	[ "$(web radicale -o /dev/null -w '%{http_code}' -u "admin:$pw" "$base/admin/home/boxing.ics")" = 200 ]
	"$NUA" restore radicale >/dev/null
	[ "$(web radicale -o /dev/null -w '%{http_code}' -u "admin:$pw" "$base/admin/home/boxing.ics")" = 404 ]
	[[ $(web radicale -u "admin:$pw" "$base/admin/home/dinner.ics") == *"SUMMARY:Christmas dinner"* ]]
}

# Jupyter: log in with the password (its form wants the _xsrf cookie).
jupyter_login() {
	local base=http://127.0.0.1:$NUA_HTTP_PORT xsrf
	web jupyter -o /dev/null "$base/login"
	xsrf=$(awk '$6 == "_xsrf" {print $7}' "$BATS_TEST_TMPDIR/jar")
	[ -n "$xsrf" ]
	web jupyter -o /dev/null -d "_xsrf=$xsrf" --data-urlencode "password=$(secret jupyter ADMIN_PASSWORD)" \
		"$base/login"
	[ "$(web jupyter -o /dev/null -w '%{http_code}' "$base/api/contents")" = 200 ]
}

# Save notebook $1 holding the text $2.
jupyter_save() {
	local xsrf
	xsrf=$(awk '$6 == "_xsrf" {print $7}' "$BATS_TEST_TMPDIR/jar")
	web jupyter -o /dev/null -w '%{http_code}' -X PUT -H "X-XSRFToken: $xsrf" \
		-H "Content-Type: application/json" -d "{\"type\": \"notebook\", \"content\": {\"cells\":
		[{\"cell_type\": \"markdown\", \"metadata\": {}, \"source\": \"$2\"}], \"metadata\": {},
		\"nbformat\": 4, \"nbformat_minor\": 5}}" "http://127.0.0.1:$NUA_HTTP_PORT/api/contents/$1"
}

@test "store: jupyter installs; its password opens it, a notebook is saved, backed up and restored" {
	run "$NUA" install jupyter
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ $output == *"Jupyter Notebook 6.4.12-1 installed as jupyter"* && $output == *"admin password: "* ]]
	[[ $output != *"admin login:"* ]]
	local base=http://127.0.0.1:$NUA_HTTP_PORT
	# Nothing without the password.
	[[ $(web jupyter -o /dev/null -w '%{http_code}' "$base/api/contents") == 40[13] ]]
	[[ $(web jupyter "$base/login") == *"<title>Jupyter Notebook</title>"* ]]
	jupyter_login
	[ "$(jupyter_save first.ipynb "Hello from the Nua tests")" = 201 ]
	[[ $(web jupyter "$base/api/contents/first.ipynb") == *"Hello from the Nua tests"* ]]
	"$NUA" backup jupyter >/dev/null
	[ "$(jupyter_save second.ipynb "Written after the backup")" = 201 ]
	"$NUA" restore jupyter >/dev/null
	rm -f "$BATS_TEST_TMPDIR/jar"
	jupyter_login
	[ "$(web jupyter -o /dev/null -w '%{http_code}' "$base/api/contents/second.ipynb")" = 404 ]
	[[ $(web jupyter "$base/api/contents/first.ipynb") == *"Hello from the Nua tests"* ]]
}

@test "store: an unknown app, a name or a domain taken, a build that fails: clear errors, nothing left" {
	run "$NUA" install dokuwik
	[ "$status" -eq 2 ]
	[[ $output == *"no app 'dokuwik' in the store; did you mean 'dokuwiki'?"* ]]
	run "$NUA" install dokuwiki
	[ "$status" -eq 2 ]
	[[ $output == *"an instance named 'dokuwiki' exists already; give another with --name"* ]]
	run "$NUA" install dokuwiki --name wiki2 --domain dokuwiki.localhost
	[ "$status" -eq 2 ]
	[[ $output == *"dokuwiki.localhost"*"is used by instance 'dokuwiki'"* ]]
	run "$NUA" status wiki2
	[ "$status" -eq 2 ]
	run "$NUA" install unbuildable
	[ "$status" -eq 1 ]
	[[ $output == *"nua-no-such-package"* ]]
	run "$NUA" status unbuildable
	[ "$status" -eq 2 ]
	[ "$("$NUA" ls --json | jq length)" -eq 3 ]
}

@test "store: a newer version in the store shows in ls and status, is announced once, and nua upgrade takes it" {
	# The store gets release 2 of DokuWiki.
	rm "$NUA_STORE/dokuwiki"
	cp -r "$NUA_TOP/store/dokuwiki" "$NUA_STORE/dokuwiki"
	sed -i 's/^release = 1$/release = 2/' "$NUA_STORE/dokuwiki/nua-config.toml"
	run "$NUA" ls
	[[ $output == *"dokuwiki: dokuwiki:2022-07-31a-2 is in the store; 'nua upgrade dokuwiki' takes it"* ]]
	[[ $output != *"radicale: "* ]]
	run "$NUA" status dokuwiki
	[[ $output == *"upgrade:  dokuwiki:2022-07-31a-2 is in the store ('nua upgrade dokuwiki')"* ]]
	# A daemon looks at the store when it starts, then once a minute:
	# one event per new version, a restart does not repeat it.
	nua_stop_daemon
	"$NUA" daemon --detach 3>&-
	local i n=0
	for i in $(seq 50); do
		n=$("$NUA" events --since 0 --json | jq -s '[.[] | select(.kind == "upgrade-available" and .instance == "dokuwiki")] | length')
		[ "$n" -ge 1 ] && break
		sleep 0.2
	done
	[ "$n" -eq 1 ]
	nua_stop_daemon
	"$NUA" daemon --detach 3>&-
	sleep 7
	[ "$("$NUA" events --since 0 --json | jq -s '[.[] | select(.kind == "upgrade-available")] | length')" -eq 1 ]
	# nua upgrade without a source builds the store's version and takes
	# it, with the data (backed up first).
	run "$NUA" upgrade dokuwiki
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$("$NUA" status --json dokuwiki | jq -r .image)" = "dokuwiki:2022-07-31a-2" ]
	[ "$(dokuwiki_raw dokuwiki nua:test)" = "First version, from the Nua tests" ]
	run "$NUA" ls
	[[ $output != *"is in the store"* ]]
}
