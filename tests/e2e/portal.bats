#!/usr/bin/env bats
# The login portal on the admin domain: sessions in cookies a script cannot
# read or send elsewhere, CSRF tokens on every form and change, logout here
# and everywhere, and failed logins slowed down, then blocked.

load helpers
load server

file_setup() {
	"$NUA" server domain admin.localhost >/dev/null
	"$NUA" tls ca >"$BATS_FILE_TMPDIR/ca.pem"
	"$NUA" user add alice --role admin <<<"alice's long password" >/dev/null
	"$NUA" user add bob <<<"bob's long password" >/dev/null
}

url() { echo "https://admin.localhost:$NUA_HTTPS_PORT$1"; }
# curl with the cookie jar $JAR (one per browser).
b() { curl -s -m 30 --cacert "$BATS_FILE_TMPDIR/ca.pem" -b "$JAR" -c "$JAR" "$@"; }
login_csrf() { awk '$6 == "nua_login_csrf" {print $7}' "$JAR"; }
# Log in as $1 with password $2 in the jar $JAR; prints the status.
login() {
	b -o /dev/null "$(url /login)"
	b -o "$BATS_TEST_TMPDIR/page" -w '%{http_code}' --data-urlencode "csrf=$(login_csrf)" \
		--data-urlencode "user=$1" --data-urlencode "password=$2" -d "return=/" "$(url /login)"
}

@test "portal: a wrong password is refused, the right one opens a session in a safe cookie" {
	JAR=$BATS_TEST_TMPDIR/jar
	run b -D - "$(url /login)"
	[[ $output == *"<title>Log in · Nua</title>"* ]]
	[[ $output == *"content-security-policy: default-src 'none'; style-src 'self'"* ]]
	[[ $output == *"x-frame-options: DENY"* ]]
	[ "$(login alice "not the password")" = 401 ]
	grep -q "Wrong user name or password." "$BATS_TEST_TMPDIR/page"
	[ "$(login nobody "not the password")" = 401 ]
	grep -q "Wrong user name or password." "$BATS_TEST_TMPDIR/page"
	run b -D - -o /dev/null --data-urlencode "csrf=$(login_csrf)" -d "user=alice" \
		--data-urlencode "password=alice's long password" -d "return=/v1/me" "$(url /login)"
	[[ $output == *"HTTP/2 303"* && $output == *"location: /v1/me"* ]]
	[[ $output == *"set-cookie: nua_session="*"; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=604800"* ]]
	[[ $(b "$(url /)") == *"Logged in as <strong>alice</strong> (admin)."* ]]
	# The API knows the session.
	[ "$(b "$(url /v1/me)" | jq -r '.who + " " + .role')" = "user alice admin" ]
	# The cookie's value is kept as a hash only.
	! grep -qF "$(awk '$6 == "nua_session" {print $7}' "$JAR")" "$NUA_ROOT/nua.db" || false
	# A return address off this site is not followed.
	JAR=$BATS_TEST_TMPDIR/jar2
	b -o /dev/null "$(url /login)"
	run b -D - -o /dev/null --data-urlencode "csrf=$(login_csrf)" -d "user=alice" \
		--data-urlencode "password=alice's long password" \
		--data-urlencode "return=//evil.example/" "$(url /login)"
	[[ $output == *"location: /"$'\r'* ]]
	# Events say who logged in, never a password.
	run "$NUA" events --since 0 --json
	[[ $output == *"alice logged in from 127.0.0.1"* && $output == *"a login as alice from 127.0.0.1 failed"* ]]
	[[ $output != *"not the password"* && $output != *"long password"* ]]
}

@test "portal: forms and changes need their CSRF token" {
	JAR=$BATS_TEST_TMPDIR/jar
	b -o /dev/null "$(url /login)"
	# A login form posted from elsewhere has no token to show.
	run b -o /dev/null -w '%{http_code}' -d "csrf=forged&user=alice" \
		--data-urlencode "password=alice's long password" "$(url /login)"
	[ "$output" = 403 ]
	[ "$(login alice "alice's long password")" = 303 ]
	# A change through the API with the cookie alone: refused.
	run b -w ' %{http_code}' -X POST "$(url /v1/groups)" -H 'Content-Type: application/json' \
		-d '{"name": "ops"}'
	[[ $output == *"needs its X-CSRF-Token header"*" 403" ]]
	local token
	token=$(b "$(url /v1/me)" | jq -r .csrf)
	[ "$(b -o /dev/null -w '%{http_code}' -X POST -H "X-CSRF-Token: $token" \
		-H 'Content-Type: application/json' -d '{"name": "ops"}' "$(url /v1/groups)")" = 201 ]
	"$NUA" group ls --json | jq -e 'map(.name) | index("ops")'
	# Logout without its token: refused, the session goes on.
	[ "$(b -o /dev/null -w '%{http_code}' -d "csrf=wrong" "$(url /logout)")" = 403 ]
	[ "$(b -o /dev/null -w '%{http_code}' "$(url /v1/me)")" = 200 ]
}

@test "portal: logout ends the session; everywhere ends them all; a new password too" {
	local token
	JAR=$BATS_TEST_TMPDIR/a
	[ "$(login alice "alice's long password")" = 303 ]
	JAR=$BATS_TEST_TMPDIR/b
	[ "$(login alice "alice's long password")" = 303 ]
	JAR=$BATS_TEST_TMPDIR/c
	[ "$(login alice "alice's long password")" = 303 ]
	# Logout in a.
	JAR=$BATS_TEST_TMPDIR/a
	token=$(b "$(url /v1/me)" | jq -r .csrf)
	run b -D - -o /dev/null -d "csrf=$token" "$(url /logout)"
	[[ $output == *"HTTP/2 303"* && $output == *"location: /login"* ]]
	[ "$(b -o /dev/null -w '%{http_code}' "$(url /v1/me)")" = 401 ]
	[ "$(b -o /dev/null -w '%{http_code} %{redirect_url}' "$(url /)")" = "303 $(url /login)" ]
	JAR=$BATS_TEST_TMPDIR/b
	[ "$(b -o /dev/null -w '%{http_code}' "$(url /v1/me)")" = 200 ]
	# Everywhere, from b: c ends too.
	token=$(b "$(url /v1/me)" | jq -r .csrf)
	b -o /dev/null -d "csrf=$token&everywhere=1" "$(url /logout)"
	JAR=$BATS_TEST_TMPDIR/c
	[ "$(b -o /dev/null -w '%{http_code}' "$(url /v1/me)")" = 401 ]
	# A new password ends the sessions of its user.
	JAR=$BATS_TEST_TMPDIR/d
	[ "$(login alice "alice's long password")" = 303 ]
	"$NUA" user passwd alice <<<"alice's new long password"
	[ "$(b -o /dev/null -w '%{http_code}' "$(url /v1/me)")" = 401 ]
	[ "$(login alice "alice's new long password")" = 303 ]
}

@test "portal: a user of the user role sees who they are, not the server's API" {
	JAR=$BATS_TEST_TMPDIR/jar
	[ "$(login bob "bob's long password")" = 303 ]
	[ "$(b "$(url /v1/me)" | jq -r .role)" = user ]
	run b -w ' %{http_code}' "$(url /v1/instances)"
	[[ $output == *"needs a user of the admin role"*" 403" ]]
	[ "$(b -o /dev/null -w '%{http_code}' "$(url /v1/users)")" = 403 ]
	# Not over plain HTTP, and not on the server's socket.
	run curl -s -H "Host: admin.localhost" "http://127.0.0.1:$NUA_HTTP_PORT/login"
	[[ $output == *"served over HTTPS on the admin domain only"* ]]
}

# Turn TOTP on for $1: the secret goes to $BATS_TEST_TMPDIR/secret, the
# recovery codes to $BATS_TEST_TMPDIR/recovery.
enrol() {
	local fifo=$BATS_TEST_TMPDIR/fifo uri
	mkfifo "$fifo"
	"$NUA" user totp "$1" <"$fifo" >"$BATS_TEST_TMPDIR/enrol" &
	exec 9>"$fifo"
	until uri=$(head -1 "$BATS_TEST_TMPDIR/enrol") && [ -n "$uri" ]; do sleep 0.1; done
	[[ $uri == "otpauth://totp/Nua:$1?secret="*"&issuer=Nua"* ]]
	sed 's/.*secret=\([A-Z2-7]*\).*/\1/' <<<"$uri" >"$BATS_TEST_TMPDIR/secret"
	python3 "$NUA_TOP/tests/e2e/totp.py" "$(cat "$BATS_TEST_TMPDIR/secret")" >&9
	exec 9>&-
	wait $!
	grep -q "TOTP is on for $1" "$BATS_TEST_TMPDIR/enrol"
	grep -E '^  [A-Za-z0-9]{5}-[A-Za-z0-9]{5}$' "$BATS_TEST_TMPDIR/enrol" | tr -d ' ' >"$BATS_TEST_TMPDIR/recovery"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/recovery")" -eq 10 ]
}
# Post the code $1 on the second step of the login; prints the status.
code() {
	local csrf
	csrf=$(grep -o 'name="csrf" value="[^"]*"' "$BATS_TEST_TMPDIR/page" | cut -d'"' -f4)
	b -o "$BATS_TEST_TMPDIR/page2" -w '%{http_code}' --data-urlencode "csrf=$csrf" \
		--data-urlencode "code=$1" -d "return=/" "$(url /login/code)"
}

@test "portal: TOTP asks for a code after the password; a recovery code works once" {
	"$NUA" user add carol <<<"carol's long password" >/dev/null
	enrol carol
	"$NUA" user ls --json | jq -e '.[] | select(.name == "carol") | .totp == true'
	# The secret is sealed in the database.
	! grep -qF "$(cat "$BATS_TEST_TMPDIR/secret")" "$NUA_ROOT/nua.db" || false
	JAR=$BATS_TEST_TMPDIR/jar
	[ "$(login carol "carol's long password")" = 200 ]
	grep -q "<h1>Second factor</h1>" "$BATS_TEST_TMPDIR/page"
	# The password alone opens nothing.
	[ "$(b -o /dev/null -w '%{http_code}' "$(url /v1/me)")" = 401 ]
	[ "$(code 000000)" = 401 ]
	grep -q "Wrong code." "$BATS_TEST_TMPDIR/page2"
	# The code of the next step (the enrolment used this one's).
	local next
	next=$(python3 "$NUA_TOP/tests/e2e/totp.py" "$(cat "$BATS_TEST_TMPDIR/secret")" $(($(date +%s) + 30)))
	[ "$(code "$next")" = 303 ]
	[ "$(b "$(url /v1/me)" | jq -r .who)" = "user carol" ]
	# The same code again: refused (a replay).
	JAR=$BATS_TEST_TMPDIR/jar2
	[ "$(login carol "carol's long password")" = 200 ]
	[ "$(code "$next")" = 401 ]
	# A recovery code: once.
	local rc
	rc=$(head -1 "$BATS_TEST_TMPDIR/recovery")
	[ "$(code "$rc")" = 303 ]
	JAR=$BATS_TEST_TMPDIR/jar3
	[ "$(login carol "carol's long password")" = 200 ]
	[ "$(code "$rc")" = 401 ]
	# Off: the password is enough again.
	"$NUA" user totp carol --off
	JAR=$BATS_TEST_TMPDIR/jar4
	[ "$(login carol "carol's long password")" = 303 ]
}

@test "portal: failed logins slow down, then block the account and the address for a while" {
	JAR=$BATS_TEST_TMPDIR/jar
	local i t0 t1
	for i in 1 2 3 4; do
		[ "$(login alice "wrong password $i")" = 401 ]
	done
	# The fifth failure waits seconds before its answer.
	t0=$(date +%s%N)
	[ "$(login alice "wrong password 5")" = 401 ]
	t1=$(date +%s%N)
	[ $(((t1 - t0) / 1000000)) -ge 3000 ]
	for i in 6 7 8 9 10; do
		login alice "wrong password $i" >/dev/null
	done
	# Blocked: even the right password is refused, with the wait.
	[ "$(login alice "alice's new long password")" = 429 ]
	grep -q "Too many failed logins: try again in 15 minutes." "$BATS_TEST_TMPDIR/page"
	# The address is blocked (every failure of this file came from it):
	# another account from it as well.
	[ "$(login bob "bob's long password")" = 429 ]
	[ "$(sqlite3 "$NUA_ROOT/nua.db" "SELECT count(*) FROM login_failures WHERE key = 'addr:127.0.0.1' AND blocked_until > strftime('%s')")" = 1 ]
	run "$NUA" events --since 0 --json
	[[ $output == *"this address blocked for 15 minutes after 10 failed logins"* ]]
	[[ $output != *"wrong password"* ]]
}
