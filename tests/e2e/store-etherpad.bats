#!/usr/bin/env bats
# The store's Etherpad on PostgreSQL: installed in one command, its front
# page, a pad written and read through the HTTP API with the generated key,
# backed up, changed and restored; its admin pages need the admin's login.
load helpers
load server
load store

# Call the HTTP API's method $1 with the instance's key (read by curl from a
# file, never on its command line); the rest are curl's arguments.
etherpad_api() {
	local method=$1
	shift
	[ -s "$BATS_TEST_TMPDIR/apikey" ] || printf %s "$(secret etherpad API_KEY)" >"$BATS_TEST_TMPDIR/apikey"
	web etherpad --data-urlencode "apikey@$BATS_TEST_TMPDIR/apikey" "$@" "$base/api/1/$method"
}

# The admin's dashboard with the password $1 (given to curl on its stdin);
# the rest are curl's arguments.
etherpad_admin() {
	local pw=$1
	shift
	printf 'user = "admin:%s"\n' "$pw" | web etherpad -K - "$@" "$base/admin/"
}

@test "store: etherpad installs; a pad is written through its API, backed up and restored; its admin pages need a login" {
	store_install etherpad
	[[ $output == *"Etherpad 1.8.14-1 installed as etherpad: http://etherpad.localhost:$NUA_HTTP_PORT/"* ]]
	[[ $output == *"admin login:    admin"* ]]
	local pw
	pw=$(secret etherpad ADMIN_PASSWORD)
	[ ${#pw} -eq 20 ]
	[ "$(secret etherpad API_KEY | wc -c)" -eq 41 ]
	# Its front page, rendered by Etherpad.
	[[ $(web etherpad "$base/") == *"<title>Etherpad</title>"* ]]
	# The API refuses a wrong key.
	[[ $(web etherpad -d apikey=wrong -d padID=nua-test "$base/api/1/getText") == *'"code":4,"message":"no or wrong API Key"'* ]]
	# A pad made with a known text, read back.
	[ "$(etherpad_api createPad -d padID=nua-test --data-urlencode "text=First text, from the Nua tests")" = \
		'{"code":0,"message":"ok","data":null}' ]
	[ "$(etherpad_api getText -d padID=nua-test | jq -r .data.text)" = "First text, from the Nua tests" ]
	# Backed up, changed, restored: the first text is back.
	"$NUA" backup etherpad >/dev/null
	[ "$(etherpad_api setText -d padID=nua-test --data-urlencode "text=Second text" | jq -r .code)" = 0 ]
	[ "$(etherpad_api getText -d padID=nua-test | jq -r .data.text)" = "Second text" ]
	"$NUA" restore etherpad >/dev/null
	[ "$(etherpad_api getText -d padID=nua-test | jq -r .data.text)" = "First text, from the Nua tests" ]
	# The admin pages: nothing without the admin's password, the dashboard with it.
	[ "$(web etherpad -o /dev/null -w '%{http_code}' "$base/admin/")" = 401 ]
	[ "$(etherpad_admin wrong -o /dev/null -w '%{http_code}')" = 401 ]
	[[ $(etherpad_admin "$pw") == *"<title data-l10n-id=\"admin.page-title\">Admin Dashboard - Etherpad</title>"* ]]
}
