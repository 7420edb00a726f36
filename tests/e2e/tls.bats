#!/usr/bin/env bats
# HTTPS for the instances: certificates from an ACME CA (Debian's pebble,
# started here on loopback, with pebble-challtestsrv as its DNS) through
# the http-01 challenge that nginx answers, from the local CA for domains
# no public CA can validate, or from the operator; redirects, HTTP/2, TLS
# versions and ciphers, renewal, HSTS, and what happens when the CA is down,
# a validation fails or the daemon is killed during an issuance.

load helpers
load server
load remote

# curl to the server's HTTPS port for HOST, trusting CA: "STATUS VERSION".
https_status() {
	curl -s -m 10 --cacert "$2" --resolve "$1:$NUA_HTTPS_PORT:127.0.0.1" -o /dev/null \
		-w '%{http_code} %{http_version}' "https://$1:$NUA_HTTPS_PORT${3:-/}"
}

# Wait up to 20 s until HOST answers "200 2" over HTTPS trusting CA: the
# certificate is listed once its file is written, and served once nginx has
# reloaded.
wait_https() {
	local i
	for i in $(seq 100); do
		[ "$(https_status "$1" "$2")" = "200 2" ] && return 0
		sleep 0.2
	done
	echo "$1: no HTTPS 200 with $2: $(https_status "$1" "$2")" >&2
	return 1
}

# The serial number of the certificate served for HOST.
served_serial() {
	openssl s_client -connect "127.0.0.1:$NUA_HTTPS_PORT" -servername "$1" </dev/null 2>/dev/null |
		openssl x509 -noout -serial
}

# Wait up to 60 s until `nua tls --json` says DOMAIN is in STATE.
wait_tls_state() {
	local i
	for i in $(seq 120); do
		[ "$("$NUA" tls --json | jq -r --arg d "$1" '.[] | select(.domain == $d) | .state')" = "$2" ] &&
			return 0
		sleep 0.5
	done
	echo "$1 never became '$2':" >&2
	"$NUA" tls >&2
	"$NUA" events | tail -5 >&2
	return 1
}

count_events() {
	"$NUA" events --since 0 --json | jq -s --arg k "$1" --arg d "$2" \
		'[.[] | select(.kind == $k and (.message | contains($d)))] | length'
}

file_setup() {
	pebble_start "$BATS_FILE_TMPDIR/pebble" "$NUA_HTTP_PORT"
	"$NUA" tls config --directory "$PEBBLE_URL" --ca-bundle "$PEBBLE_CA" \
		--email ops@example.org >/dev/null
}

@test "tls: a .localhost instance is served over HTTPS by the local CA at once, and on HTTP too" {
	"$NUA" deploy "$NUA_TOP/apps/hello-static" --name dev >/dev/null
	"$NUA" tls ca >"$BATS_TEST_TMPDIR/ca.pem"
	grep -q "BEGIN CERTIFICATE" "$BATS_TEST_TMPDIR/ca.pem"
	[ "$(https_status dev.localhost "$BATS_TEST_TMPDIR/ca.pem")" = "200 2" ]
	# Not redirected: browsers do not trust the local CA as they come.
	run http_get dev.localhost /
	[ "${lines[0]%% *}" = 200 ]
	"$NUA" tls --json | jq -e '.[] | select(.domain == "dev.localhost") |
		.source == "local" and .state == "valid" and (.issuer | startswith("Nua local CA"))'
	# The key is the root's only: 0600 under a 0700 directory.
	[ "$(stat -c %a "$NUA_ROOT/tls/live/dev.localhost.pem")" = 600 ]
	[ "$(stat -c %a "$NUA_ROOT/tls/live")" = 700 ]
	[ "$(stat -c %a "$NUA_ROOT/tls/ca/ca.key")" = 600 ]
	# A name nobody deployed gets no certificate at all.
	run openssl s_client -connect "127.0.0.1:$NUA_HTTPS_PORT" -servername nobody.localhost </dev/null
	[ "$status" -ne 0 ]
	[[ $output == *"unrecognized name"* ]]
}

@test "tls: a public domain gets its certificate from the ACME CA, chained to its root; HTTP goes to HTTPS" {
	"$NUA" deploy "$NUA_TOP/apps/hello-static" --name web --domain web.example.org >/dev/null
	wait_tls_state web.example.org valid
	pebble_root >"$BATS_TEST_TMPDIR/root.pem"
	wait_https web.example.org "$BATS_TEST_TMPDIR/root.pem"
	# The chain the server sends verifies against pebble's root alone.
	openssl s_client -connect "127.0.0.1:$NUA_HTTPS_PORT" -servername web.example.org \
		-CAfile "$BATS_TEST_TMPDIR/root.pem" -verify_return_error </dev/null 2>&1 |
		grep -q "Verify return code: 0 (ok)"
	run curl -s -m 10 -o /dev/null -w '%{http_code} %{redirect_url}' -H "Host: web.example.org" \
		"http://127.0.0.1:$NUA_HTTP_PORT/a/b?c=d"
	[ "$output" = "301 https://web.example.org:$NUA_HTTPS_PORT/a/b?c=d" ]
	# ACME's challenges stay on HTTP.
	run curl -s -m 10 -o /dev/null -w '%{http_code}' -H "Host: web.example.org" \
		"http://127.0.0.1:$NUA_HTTP_PORT/.well-known/acme-challenge/nothing"
	[ "$output" = 404 ]
	"$NUA" tls --json | jq -e '.[] | select(.domain == "web.example.org") |
		.source == "acme" and (.issuer | startswith("Pebble Intermediate"))'
	[ "$(count_events tls web.example.org)" -ge 1 ]
	[ "$(stat -c %a "$NUA_ROOT/tls/live/web.example.org.pem")" = 600 ]
	# The daemon's logs and events never hold a key.
	! grep -rq "PRIVATE KEY" "$NUA_ROOT/daemon.log" "$NUA_ROOT/nginx/logs" || false
	! "$NUA" events --since 0 --json | grep -q "PRIVATE KEY" || false
}

@test "tls: only TLS 1.2 and 1.3, no weak cipher" {
	wait_tls_state web.example.org valid
	local c="openssl s_client -connect 127.0.0.1:$NUA_HTTPS_PORT -servername web.example.org"
	# The client is made willing; the server must refuse.
	for v in -tls1 -tls1_1; do
		run $c $v -cipher 'DEFAULT:@SECLEVEL=0' </dev/null
		[ "$status" -ne 0 ]
		[[ $output == *"alert protocol version"* || $output == *"no protocols available"* ]]
	done
	for weak in 'RC4:3DES:DES:NULL:EXPORT:aNULL:eNULL:@SECLEVEL=0' 'AES128-SHA:AES256-SHA' \
		'ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES128-SHA' 'DHE-RSA-AES128-SHA'; do
		run $c -tls1_2 -cipher "$weak" </dev/null
		[ "$status" -ne 0 ]
	done
	run $c -tls1_2 </dev/null
	[ "$status" -eq 0 ]
	[[ $output == *"Protocol  : TLSv1.2"* ]]
	[[ $output =~ Cipher\ *:\ ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305) ]]
	run $c -tls1_3 </dev/null
	[ "$status" -eq 0 ]
	[[ $output == *"New, TLSv1.3, Cipher is TLS_"* ]]
}

@test "tls: a forced renewal serves a new certificate; HSTS on demand; a restart keeps it all" {
	wait_tls_state web.example.org valid
	local before after
	before=$(served_serial web.example.org)
	# By the instance's name.
	"$NUA" tls renew web >/dev/null
	after=$(served_serial web.example.org)
	[ -n "$after" ] && [ "$before" != "$after" ]
	run curl -s -m 10 -D - -o /dev/null -k \
		--resolve "web.example.org:$NUA_HTTPS_PORT:127.0.0.1" "https://web.example.org:$NUA_HTTPS_PORT/"
	[[ $output != *strict-transport-security* ]]
	"$NUA" tls hsts web on
	run curl -s -m 10 -D - -o /dev/null -k \
		--resolve "web.example.org:$NUA_HTTPS_PORT:127.0.0.1" "https://web.example.org:$NUA_HTTPS_PORT/"
	[[ $output == *"strict-transport-security: max-age=31536000"* ]]
	# Never over plain HTTP (the redirect does not carry it).
	run curl -s -m 10 -D - -o /dev/null -H "Host: web.example.org" "http://127.0.0.1:$NUA_HTTP_PORT/"
	[[ ${output,,} != *strict-transport-security* ]]
	# A redeploy and a daemon restart keep the certificate.
	"$NUA" deploy "$NUA_TOP/apps/hello-static" --name web >/dev/null
	nua_stop_daemon
	"$NUA" daemon --detach 3>&-
	[ "$(served_serial web.example.org)" = "$after" ]
	"$NUA" tls hsts web off
}

@test "tls: aliases get certificates of their own; a redirecting one sends to the main domain; taken ones are refused" {
	wait_tls_state web.example.org valid
	"$NUA" domain add web www.example.org >/dev/null
	"$NUA" domain add web old.example.org --redirect >/dev/null
	"$NUA" domain add web legacy.example.org/v1.0 --redirect >/dev/null
	run "$NUA" domain web
	[[ ${lines[1]} == "web.example.org "*"main"* ]]
	[[ $output == *"www.example.org "*"alias"* ]]
	[[ $output == *"old.example.org "*"redirect"* ]]
	wait_tls_state www.example.org valid
	wait_tls_state old.example.org valid
	pebble_root >"$BATS_TEST_TMPDIR/root.pem"
	wait_https www.example.org "$BATS_TEST_TMPDIR/root.pem"
	# Each name has its own certificate, for it.
	openssl s_client -connect "127.0.0.1:$NUA_HTTPS_PORT" -servername www.example.org </dev/null 2>/dev/null |
		openssl x509 -noout -ext subjectAltName | grep -q "DNS:www.example.org"
	# The redirects keep the rest of the URL, over HTTPS and HTTP.
	run curl -s -m 10 -o /dev/null -w '%{http_code} %{redirect_url}' --cacert "$BATS_TEST_TMPDIR/root.pem" \
		--resolve "old.example.org:$NUA_HTTPS_PORT:127.0.0.1" "https://old.example.org:$NUA_HTTPS_PORT/a/b?c=d"
	[ "$output" = "301 https://web.example.org:$NUA_HTTPS_PORT/a/b?c=d" ]
	run curl -s -m 10 -o /dev/null -w '%{http_code} %{redirect_url}' -H "Host: legacy.example.org" \
		"http://127.0.0.1:$NUA_HTTP_PORT/v1.0/x/y?z=1"
	[[ $output == "301 http"*"://web.example.org:"*"/x/y?z=1" ]]
	# Taken names, the main domain, a bad name: exit 2, nothing changed.
	"$NUA" deploy "$NUA_TOP/apps/hello-static" --name second --domain second.example.org >/dev/null
	run "$NUA" domain add second www.example.org
	[ "$status" -eq 2 ]
	[[ $output == *"domain 'www.example.org' is used by instance 'web'"* ]]
	run "$NUA" deploy "$NUA_TOP/apps/hello-static" --name third --domain old.example.org
	[ "$status" -eq 2 ]
	run "$NUA" domain add web second.example.org
	[ "$status" -eq 2 ]
	run "$NUA" domain rm web web.example.org
	[ "$status" -eq 2 ]
	[[ $output == *"main domain"* ]]
	run "$NUA" domain add web "not a domain"
	[ "$status" -eq 2 ]
	wait_https www.example.org "$BATS_TEST_TMPDIR/root.pem"
	# Removed: no longer served, nor listed.
	"$NUA" domain rm web old.example.org >/dev/null
	"$NUA" domain rm web legacy.example.org/v1.0 >/dev/null
	run openssl s_client -connect "127.0.0.1:$NUA_HTTPS_PORT" -servername old.example.org </dev/null
	[ "$status" -ne 0 ]
	! "$NUA" tls --json | jq -e '.[] | select(.domain == "old.example.org")' || false
	"$NUA" rm second >/dev/null
	# A daemon restart keeps the alias served.
	nua_stop_daemon
	"$NUA" daemon --detach 3>&-
	wait_https www.example.org "$BATS_TEST_TMPDIR/root.pem"
}

@test "tls: a domain that fails validation is an event with the CA's message, retried later, served on HTTP" {
	chall_add_a fail.example.org 127.0.0.2
	"$NUA" deploy "$NUA_TOP/apps/hello-static" --name failing --domain fail.example.org >/dev/null
	wait_tls_state fail.example.org failing
	run "$NUA" events --since 0 --json
	echo "$output" | jq -s -e '[.[] | select(.kind == "tls-failed" and (.message | contains("fail.example.org")))][0].message |
		contains("refused a certificate") and contains("127.0.0.2")'
	# Still served, on HTTP, not redirected.
	run http_get fail.example.org /
	[ "${lines[0]%% *}" = 200 ]
	# The next attempt waits for its backoff: no loop of requests to the CA.
	sleep 12
	[ "$(count_events tls-failed fail.example.org)" -eq 1 ]
	"$NUA" tls --json | jq -e '.[] | select(.domain == "fail.example.org") |
		.failures == 1 and .next_try > now + 200 and (.error | length > 0)'
	run "$NUA" tls
	[[ $output == *"fail.example.org"*"failing"* ]]
	# Once it resolves here, a renewal on demand gets it.
	chall_clear_a fail.example.org
	"$NUA" tls renew fail.example.org >/dev/null
	wait_tls_state fail.example.org valid
	"$NUA" rm failing >/dev/null
}

@test "tls: a CA that is down is a clear error; the certificate served stays; back up, it renews" {
	wait_tls_state web.example.org valid
	local before
	before=$(served_serial web.example.org)
	pebble_stop
	run "$NUA" tls renew web.example.org
	[ "$status" -eq 1 ]
	[[ $output == *"refused a certificate for 'web.example.org'"* || $output == *"Could not"* || $output == *"connect"* ]]
	[ "$(served_serial web.example.org)" = "$before" ]
	"$NUA" tls --json | jq -e '.[] | select(.domain == "web.example.org") | .state == "renewal failing"'
	# pebble's certificates last 10 days here: one that ends within 14
	# while its renewal fails is a warning, once a day, naming the failure.
	local i
	for i in $(seq 30); do
		[ "$(count_events tls-expiring web.example.org)" -ge 1 ] && break
		sleep 0.5
	done
	"$NUA" events --since 0 --json | jq -s -e '[.[] | select(.kind == "tls-expiring")][0].message |
		contains("web.example.org expires on") and contains("renewing it fails")'
	sleep 6
	[ "$(count_events tls-expiring web.example.org)" -eq 1 ]
	# The file's again, for the tests that follow.
	BATS_TEST_NAME= pebble_start "$BATS_FILE_TMPDIR/pebble" "$NUA_HTTP_PORT"
	"$NUA" tls renew web.example.org >/dev/null
	wait_tls_state web.example.org valid
	# A new root since pebble started again: the chain is to it.
	pebble_root >"$BATS_TEST_TMPDIR/root.pem"
	wait_https web.example.org "$BATS_TEST_TMPDIR/root.pem"
	[ "$(served_serial web.example.org)" != "$before" ]
}

@test "tls: a domain that does not resolve for the CA is a failure with the CA's DNS error, served on HTTP" {
	chall_servfail nores.example.org
	"$NUA" deploy "$NUA_TOP/apps/hello-static" --name nores --domain nores.example.org >/dev/null
	wait_tls_state nores.example.org failing
	"$NUA" events --since 0 --json | jq -s -r '.[] | select(.kind == "tls-failed") | .message'
	"$NUA" events --since 0 --json | jq -s -e '[.[] | select(.kind == "tls-failed" and
		(.message | contains("nores.example.org")))][0].message | contains("could not resolve")'
	run http_get nores.example.org /
	[ "${lines[0]%% *}" = 200 ]
	chall_clear_servfail nores.example.org
	"$NUA" rm nores >/dev/null
}

@test "tls: a daemon killed during an issuance converges when it starts again" {
	"$NUA" deploy "$NUA_TOP/apps/hello-static" --name killed --domain killed.example.org >/dev/null &
	local i deploy=$!
	# Kill it as soon as the ACME client runs for the domain.
	for i in $(seq 300); do
		pgrep -f "uacme.* issue killed.example.org" >/dev/null && break
		sleep 0.05
	done
	kill -KILL "$(cat "$NUA_RUN/nua.pid")"
	wait "$deploy" || true
	# The ACME client dies with it.
	sleep 0.5
	! pgrep -f "uacme.* issue killed.example.org" || false
	"$NUA" daemon --detach 3>&-
	wait_tls_state killed.example.org valid
	pebble_root >"$BATS_TEST_TMPDIR/root.pem"
	wait_https killed.example.org "$BATS_TEST_TMPDIR/root.pem"
	"$NUA" rm killed >/dev/null
}

@test "tls: the operator's own certificate is served and never replaced; a wrong key is refused" {
	local d=$BATS_TEST_TMPDIR
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/own.key" \
		-out "$d/own.pem" -days 30 -subj "/CN=own.example.org" \
		-addext "subjectAltName=DNS:own.example.org" 2>/dev/null
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/other.key" 2>/dev/null
	"$NUA" deploy "$NUA_TOP/apps/hello-static" --name own --domain own.example.org >/dev/null
	"$NUA" tls set own.example.org --cert "$d/own.pem" --key "$d/own.key" >/dev/null
	[ "$(https_status own.example.org "$d/own.pem")" = "200 2" ]
	"$NUA" tls --json | jq -e '.[] | select(.domain == "own.example.org") | .source == "custom"'
	# Not replaced by the ACME pass, even close to its end (a warning).
	sleep 6
	[ "$(https_status own.example.org "$d/own.pem")" = "200 2" ]
	[ "$(count_events tls-expiring own.example.org)" -eq 0 ]
	run "$NUA" tls set own.example.org --cert "$d/own.pem" --key "$d/other.key"
	[ "$status" -eq 2 ]
	[[ $output == *"does not match"* ]]
	run "$NUA" tls set other.example.org --cert "$d/own.pem" --key "$d/own.key"
	[ "$status" -eq 2 ]
	[[ $output == *"not for 'other.example.org'"* ]]
	run "$NUA" tls set own.example.org --cert "$d/missing.pem" --key "$d/own.key"
	[ "$status" -eq 2 ]
	[ "$(https_status own.example.org "$d/own.pem")" = "200 2" ]
	"$NUA" rm own >/dev/null
	# One that ends within 14 days is a warning, once a day.
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/soon.key" \
		-out "$d/soon.pem" -days 10 -subj "/CN=soon.example.org" \
		-addext "subjectAltName=DNS:soon.example.org" 2>/dev/null
	"$NUA" deploy "$NUA_TOP/apps/hello-static" --name soon --domain soon.example.org >/dev/null
	"$NUA" tls set soon.example.org --cert "$d/soon.pem" --key "$d/soon.key" >/dev/null
	local i
	for i in $(seq 30); do
		[ "$(count_events tls-expiring soon.example.org)" -ge 1 ] && break
		sleep 0.5
	done
	sleep 6
	[ "$(count_events tls-expiring soon.example.org)" -eq 1 ]
	"$NUA" rm soon >/dev/null
}

@test "tls: the certificate is in the instance's snapshots and exports: a new server serves it at once" {
	wait_tls_state web.example.org valid
	wait_tls_state www.example.org valid
	local serial www t=$BATS_TEST_TMPDIR
	serial=$(served_serial web.example.org)
	www=$(served_serial www.example.org)
	"$NUA" backup web >/dev/null
	"$NUA" export web -o "$t/web.nua" >/dev/null
	"$NUA" backup key >"$t/key"
	pebble_root >"$t/root.pem"
	# A second server, with no ACME CA it could reach.
	export NUA_ROOT=$t/root2 NUA_RUN=$t/run2 NUA_HTTP_PORT=$(free_port)
	mkdir -p "$NUA_ROOT" "$NUA_RUN"
	nua_start_daemon
	"$NUA" import "$t/web.nua" --key "$t/key" >/dev/null
	[ "$(served_serial web.example.org)" = "$serial" ]
	[ "$(https_status web.example.org "$t/root.pem")" = "200 2" ]
	# Its alias came with it, with its certificate.
	"$NUA" domain web | grep -q "www.example.org "
	[ "$(served_serial www.example.org)" = "$www" ]
	"$NUA" tls --json | jq -e '.[] | select(.domain == "web.example.org") |
		.state == "valid" and .source == "acme"'
	[ "$(stat -c %a "$NUA_ROOT/tls/live/web.example.org.pem")" = 600 ]
	[ "$(stat -c %a "$NUA_ROOT/instances/web/backup/tls/web.example.org.pem" 2>/dev/null || echo none)" != 644 ]
	"$NUA" daemon stop --all >/dev/null
}

@test "tls: ssl = false keeps an instance on plain HTTP; bad settings are refused" {
	cp -r "$NUA_TOP/apps/hello-static" "$BATS_TEST_TMPDIR/plain"
	sed -i '/^\[port.web\]/a ssl = false' "$BATS_TEST_TMPDIR/plain/nua-config.toml"
	"$NUA" deploy "$BATS_TEST_TMPDIR/plain" --name plain --domain plain.example.org >/dev/null
	sleep 6
	"$NUA" tls --json | jq -e '.[] | select(.domain == "plain.example.org") | .state == "off"'
	[ ! -e "$NUA_ROOT/tls/live/plain.example.org.pem" ]
	run http_get plain.example.org /
	[ "${lines[0]%% *}" = 200 ]
	[ "$(count_events tls-failed plain.example.org)" -eq 0 ]
	"$NUA" rm plain >/dev/null
	run "$NUA" tls config --directory http://127.0.0.1:1/dir
	[ "$status" -eq 2 ]
	[[ $output == *"not an https:// URL"* ]]
	run "$NUA" tls config --issuer somebody
	[ "$status" -eq 2 ]
	run "$NUA" tls config --email "not an address"
	[ "$status" -eq 2 ]
	run "$NUA" tls hsts nothing-here on
	[ "$status" -eq 2 ]
	"$NUA" tls config --json | jq -e --arg u "$PEBBLE_URL" '.directory == $u and .ca_bundle'
}

@test "tls: a CA that answers rateLimited is not asked again for an hour; its message is in the event" {
	refuser_start "$BATS_TEST_TMPDIR/refuser" urn:ietf:params:acme:error:rateLimited \
		"too many certificates already issued for this name (the tests' CA)"
	"$NUA" tls config --directory "$REFUSER_URL" --ca-bundle "$REFUSER_CA" >/dev/null
	"$NUA" deploy "$NUA_TOP/apps/hello-static" --name limited --domain limited.example.org >/dev/null
	wait_tls_state limited.example.org failing
	"$NUA" events --since 0 --json | jq -s -r '.[] | select(.kind == "tls-failed") | .message'
	cat "$REFUSER_LOG"
	"$NUA" events --since 0 --json | jq -s -e '[.[] | select(.kind == "tls-failed" and
		(.message | contains("limited.example.org")))][0].message |
		contains("rateLimited") and contains("too many certificates already issued") and
		contains("the next in 60 min")'
	"$NUA" tls --json | jq -e '.[] | select(.domain == "limited.example.org") |
		.failures == 1 and .next_try >= now + 3500'
	[ "$(grep -c "^POST /order" "$REFUSER_LOG")" -eq 1 ]
	# Later passes leave the CA alone.
	sleep 11
	[ "$(grep -c "^POST /order" "$REFUSER_LOG")" -eq 1 ]
	[ "$(count_events tls-failed limited.example.org)" -eq 1 ]
	run http_get limited.example.org /
	[ "${lines[0]%% *}" = 200 ]
	"$NUA" rm limited >/dev/null
	"$NUA" tls config --directory "$PEBBLE_URL" --ca-bundle "$PEBBLE_CA" >/dev/null
}
