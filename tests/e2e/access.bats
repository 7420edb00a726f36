#!/usr/bin/env bats
# Access control of apps: private and public rules by URL path, checked by
# nginx's auth_request against the daemon; a browser sent to the login
# portal and back with a session of the app's own domain; the user's
# identity in headers a client cannot forge.

load helpers
load server

file_setup() {
	"$NUA" server domain admin.localhost >/dev/null
	"$NUA" tls ca >"$BATS_FILE_TMPDIR/ca.pem"
	"$NUA" user add alice --role admin --email alice@example.org <<<"alice's long password" >/dev/null
	"$NUA" user add bob <<<"bob's long password" >/dev/null
	"$NUA" group add dev >/dev/null
	"$NUA" group join dev bob >/dev/null
	"$NUA" deploy "$NUA_TOP/apps/hello-python" --name app >/dev/null 2>&1
	"$NUA" deploy hello-python:1.0.0-1 --name open >/dev/null 2>&1
}

app() { echo "https://app.localhost:$NUA_HTTPS_PORT$1"; }
# nginx keeps the daemon's answers a few seconds: poll until the status of
# the request (curl arguments $2...) is $1, for 10 s at most.
eventually() {
	local want=$1 got i
	shift
	for i in $(seq 20); do
		got=$(b -o /dev/null -w '%{http_code}' "$@")
		[ "$got" = "$want" ] && return 0
		sleep 0.5
	done
	echo "got $got, not $want"
	return 1
}
portal() { echo "https://admin.localhost:$NUA_HTTPS_PORT$1"; }
b() { curl -s -m 30 --cacert "$BATS_FILE_TMPDIR/ca.pem" -b "$JAR" -c "$JAR" "$@"; }

# The whole way of a browser to $1 (a page of the app) as user $2 with
# password $3: to the portal, the login, back through the callback.
browse_login() {
	local to login csrf ret back
	to=$(b -o /dev/null -w '%{redirect_url}' -H 'Accept: text/html' "$1")
	[[ $to == "$(portal /login)?return="* ]] || { echo "not sent to the portal: $to"; return 1; }
	b -o "$BATS_TEST_TMPDIR/form" "$to"
	csrf=$(awk '$6 == "nua_login_csrf" {print $7}' "$JAR")
	ret=$(grep -o 'name="return" value="[^"]*"' "$BATS_TEST_TMPDIR/form" | cut -d'"' -f4)
	back=$(b -o /dev/null -w '%{redirect_url}' --data-urlencode "csrf=$csrf" \
		--data-urlencode "user=$2" --data-urlencode "password=$3" \
		--data-urlencode "return=$ret" "$(portal /login)")
	[[ $back == "$(app /.nua/callback)?code="* ]] || { echo "not sent back: $back"; return 1; }
	echo "$back" >"$BATS_TEST_TMPDIR/callback"
	b -o /dev/null -w '%{http_code} %{redirect_url}' "$back"
}

@test "access: nua access lists, sets and removes the rules; bad ones are refused" {
	run "$NUA" access app
	[[ $output == "app is public: no rule"* ]]
	run "$NUA" access app private --allow "alice,@dev"
	[ "$status" -eq 0 ]
	[[ $output == *"/ "*"private"*"alice,@dev"* ]]
	run "$NUA" access app public --path /health
	[[ $output == *"/health "*"public"*"anyone"* ]]
	"$NUA" access app --json | jq -e '.rules | length == 2'
	run "$NUA" access app private --allow "Not A User"
	[ "$status" -eq 2 ]
	[[ $output == *"invalid entry 'Not A User' in the allow list"* ]]
	run "$NUA" access app public --path 'x'
	[ "$status" -eq 2 ]
	[[ $output == *"invalid path 'x'"* ]]
	run "$NUA" access nosuch private
	[ "$status" -eq 2 ]
	[[ $output == *"no instance named 'nosuch'"* ]]
	run "$NUA" access app rm --path /nothing
	[ "$status" -eq 2 ]
	[[ $output == *"no access rule for '/nothing'"* ]]
	"$NUA" access app rm
	"$NUA" access app rm --path /health
	[[ $("$NUA" access app) == "app is public: no rule"* ]]
}

@test "access: a private app sends a browser to the portal and back; others get a 401" {
	JAR=$BATS_TEST_TMPDIR/jar
	"$NUA" access app private >/dev/null
	"$NUA" access app public --path /health >/dev/null
	# Not logged in: a browser is sent to the portal, a program gets 401.
	run b -o /dev/null -w '%{http_code} %{redirect_url}' -H 'Accept: text/html' "$(app /headers)"
	[ "$output" = "302 $(portal /login)?return=https:%2F%2Fapp.localhost:$NUA_HTTPS_PORT%2Fheaders" ]
	run b -w ' %{http_code}' -H 'Accept: application/json' "$(app /headers)"
	[[ $output == *"this app is private: log in at $(portal /login)"*" 401" ]]
	# The public path, and no way around the private one.
	[ "$(b -o /dev/null -w '%{http_code}' "$(app /health)")" = 200 ]
	[ "$(b -o /dev/null -w '%{http_code}' "$(app /health/../headers)")" = 401 ]
	[ "$(b -o /dev/null -w '%{http_code}' "$(app /%68eaders)")" = 401 ]
	# The whole way, and the app knows the user.
	run browse_login "$(app /headers)" alice "alice's long password"
	[ "$output" = "302 /headers" ] || [ "$output" = "302 $(app /headers)" ]
	run b "$(app /headers)"
	[ "$(jq -r '."X-Nua-User" + " " + ."X-Nua-Email"' <<<"$output")" = "alice alice@example.org" ]
	# The session cookie of the app: HttpOnly, Secure, its domain only.
	grep -q $'^#HttpOnly_app.localhost\tFALSE\t/\tTRUE\t0\tnua_app\t' "$JAR"
	# The code of the callback works once.
	JAR=$BATS_TEST_TMPDIR/other
	[ "$(b -o /dev/null -w '%{http_code}' "$(cat "$BATS_TEST_TMPDIR/callback")")" = 400 ]
	# The cookie of one app is nothing on another's domain.
	"$NUA" access open private >/dev/null
	[ "$(curl -s --cacert "$BATS_FILE_TMPDIR/ca.pem" -o /dev/null -w '%{http_code}' \
		-H "Cookie: $(awk '$6 == "nua_app" {print "nua_app=" $7}' "$BATS_TEST_TMPDIR/jar")" \
		-H 'Accept: application/json' "https://open.localhost:$NUA_HTTPS_PORT/headers")" = 401 ]
	"$NUA" access open rm >/dev/null
}

@test "access: the identity headers cannot be forged, on private and on public apps" {
	JAR=$BATS_TEST_TMPDIR/jar
	"$NUA" access app private >/dev/null
	browse_login "$(app /headers)" alice "alice's long password" >/dev/null
	run b -H "X-Nua-User: mallory" -H "X-Nua-Groups: admins" "$(app /headers)"
	[ "$(jq -r '."X-Nua-User"' <<<"$output")" = alice ]
	[ "$(jq -r '."X-Nua-Groups"' <<<"$output")" = null ]
	# A public app gets none of them.
	run curl -s -H "Host: open.localhost" -H "X-Nua-User: mallory" -H "X-Nua-Email: m@evil" \
		"http://127.0.0.1:$NUA_HTTP_PORT/headers"
	[ "$(jq -r '."X-Nua-User" // "none"' <<<"$output")" = none ]
	[ "$(jq -r '."X-Nua-Email" // "none"' <<<"$output")" = none ]
}

@test "access: an allow list of users and groups; the rule of the longest path decides" {
	"$NUA" access app private --allow alice >/dev/null
	"$NUA" access app private --path /headers --allow @dev >/dev/null
	"$NUA" access app public --path /health >/dev/null
	JAR=$BATS_TEST_TMPDIR/bob
	browse_login "$(app /)" bob "bob's long password" >/dev/null
	# bob is not on / (alice only), is on /headers (group dev).
	[ "$(b -o /dev/null -w '%{http_code}' "$(app /)")" = 403 ]
	run b "$(app /headers)"
	[ "$(jq -r '."X-Nua-User" + " " + ."X-Nua-Groups"' <<<"$output")" = "bob dev" ]
	JAR=$BATS_TEST_TMPDIR/alice
	browse_login "$(app /)" alice "alice's long password" >/dev/null
	[ "$(b -o /dev/null -w '%{http_code}' "$(app /)")" = 200 ]
	[ "$(b -o /dev/null -w '%{http_code}' "$(app /headers)")" = 403 ]
	# Out of the group: out of the app, within seconds.
	"$NUA" group leave dev bob
	JAR=$BATS_TEST_TMPDIR/bob
	eventually 403 "$(app /headers)"
	"$NUA" access app rm --path /headers >/dev/null
}

@test "access: logging out of the portal logs out of the apps; public again, no login asked" {
	"$NUA" access app private >/dev/null
	JAR=$BATS_TEST_TMPDIR/jar
	browse_login "$(app /headers)" alice "alice's long password" >/dev/null
	[ "$(b -o /dev/null -w '%{http_code}' "$(app /headers)")" = 200 ]
	# Logout everywhere at the portal (its own cookie is in the jar).
	local token
	token=$(b "$(portal /v1/me)" | jq -r .csrf)
	b -o /dev/null -d "csrf=$token&everywhere=1" "$(portal /logout)"
	eventually 401 -H 'Accept: application/json' "$(app /headers)"
	# Public again: nginx no longer asks.
	"$NUA" access app rm >/dev/null
	"$NUA" access app rm --path /health >/dev/null 2>&1 || true
	[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Host: app.localhost" \
		"http://127.0.0.1:$NUA_HTTP_PORT/headers")" = 200 ]
	! grep -q auth_request "$NUA_ROOT/nginx/sites/app.localhost.conf" || false
}

@test "access: a site an older nua wrote is written again when the daemon starts" {
	"$NUA" access app private >/dev/null
	local site=$NUA_ROOT/nginx/sites/app.localhost.conf
	grep -q auth_request "$site"
	# As a version of Nua without auth_request would have left it.
	sed -i '/auth_request/d' "$site"
	nua_stop_daemon
	"$NUA" daemon --detach 3>&-
	grep -q "auth_request /.nua/auth/app;" "$site"
	[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Host: app.localhost" -H 'Accept: application/json' \
		"http://127.0.0.1:$NUA_HTTP_PORT/headers")" = 401 ]
	"$NUA" access app rm >/dev/null
}
