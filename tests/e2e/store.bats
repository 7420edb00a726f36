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

# curl with a cookie jar per test, for the host $1.localhost.
web() {
	local host=$1
	shift
	curl -s -m 20 -b "$BATS_TEST_TMPDIR/jar" -c "$BATS_TEST_TMPDIR/jar" -H "Host: $host.localhost" "$@"
}

secret() { "$NUA" env --json --show-secrets "$1" | jq -r ".$2"; }

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
	! grep -rqF "$password" "$NUA_ROOT/daemon.log" "$NUA_ROOT/nua.db"
	! "$NUA" events --since 0 --json | grep -qF "$password"
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
	[ "$("$NUA" ls --json | jq length)" -eq 1 ]
}
