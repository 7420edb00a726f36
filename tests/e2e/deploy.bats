#!/usr/bin/env bats
# Build and deploy the sample apps for real: debootstrap base, runc under
# conmon, CNI bridge networking, nginx in front, all under a private
# NUA_ROOT with nginx on a free loopback port.

load helpers
load server

@test "nua build makes an image, and an unchanged package rebuilds from the cache" {
	run "$NUA" build "$NUA_TOP/apps/hello-static"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ ${lines[-1]} == "hello-static:1.0.0-1" ]]
	run "$NUA" build "$NUA_TOP/apps/hello-static"
	[ "$status" -eq 0 ]
	[[ $output == *"0 run"* ]] || { echo "$output"; false; }
	[[ $output != *"built)"* ]]
}

@test "nua images lists what was built" {
	run "$NUA" images --json
	[ "$status" -eq 0 ]
	echo "$output" | jq -e '.[] | select(.ref == "hello-static:1.0.0-1")'
}

@test "a static site answers through nginx on its domain" {
	run "$NUA" deploy "$NUA_TOP/apps/hello-static" --domain static.test
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ ${lines[-1]} == "http://static.test:$NUA_HTTP_PORT/" ]]
	run http_get static.test /
	[ "$status" -eq 0 ]
	[[ $output == "200 "* ]]
	[[ $output == *"Hello"* ]]
}

@test "an unknown host gets 404 from the default server" {
	run http_get nobody.test /
	[[ $output == "404 "* ]]
}

@test "a python app gets its env, keeps data in its volume, and logs" {
	run "$NUA" deploy "$NUA_TOP/apps/hello-python" --name py --domain py.test \
		--env GREETING=Bonjour
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	run http_get py.test /
	[[ $output == "200 "* ]]
	[[ $output == *"<h1>Bonjour</h1>"* ]]
	[[ $output == *"Visit number 1."* ]]
	run http_get py.test /
	[[ $output == *"Visit number 2."* ]]
	# The app sees the host as the client named it, port included, so
	# that its links work on a front door other than 80; the client's own
	# X-Forwarded-For is not passed on.
	curl -s -H "Host: py.test:$NUA_HTTP_PORT" -H "X-Forwarded-For: 6.6.6.6" \
		"http://127.0.0.1:$NUA_HTTP_PORT/headers" | jq -e --arg h "py.test:$NUA_HTTP_PORT" \
		--arg p "$NUA_HTTP_PORT" '.Host == $h and ."X-Forwarded-Host" == $h and
		."X-Forwarded-Port" == $p and ."X-Forwarded-Proto" == "http" and
		."X-Forwarded-For" == "127.0.0.1"'
	# A Host header other than the name in an absolute request line never
	# reaches the app: it gets the name the server matched.
	curl -s --request-target "http://py.test/headers" -H "Host: evil.example:666" \
		"http://127.0.0.1:$NUA_HTTP_PORT" | jq -e '.Host == "py.test:666"'
	[ -f "$NUA_ROOT/instances/py/volumes/data/visits" ]
	run "$NUA" logs py
	[ "$status" -eq 0 ]
	[[ $output == *"listening on port 8080"* ]]
	[[ $output == *'"GET / HTTP/1.0" 200'* ]] || [[ $output == *'"GET / HTTP/1.1" 200'* ]]
}

@test "nua ls and status show the running instances" {
	run "$NUA" ls
	[ "$status" -eq 0 ]
	[[ $output == *"py"*"hello-python:1.0.0-1"*"running"* ]]
	[[ $output == *"hello-static"*"running"* ]]
	run "$NUA" ls --json
	[ "$(echo "$output" | jq -r '.[] | select(.name == "py") | .state')" = running ]
	run "$NUA" status py
	[ "$status" -eq 0 ]
	[[ $output == *"state:    running"* ]]
	[[ $output == *"listening on port 8080"* ]]
}

@test "instances reach each other by name" {
	pid=$("$NUA" status --json py | jq -r .pid)
	run nsenter -t "$pid" -m -n -- /usr/bin/python3 -c \
		'import urllib.request; r = urllib.request.urlopen("http://hello-static:8080/", timeout=5); print(r.status)'
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$output" = 200 ]
}

@test "the app is isolated: its own pid namespace, not root, its memory limited" {
	pid=$("$NUA" status --json py | jq -r .pid)
	[ "$pid" -gt 1 ]
	# In its namespace the init (tini) is process 1, and the namespace holds
	# only it, the app and what nsenter runs (sh, ls, grep).
	[ "$(awk '/^NSpid:/ {print $NF}' /proc/$pid/status)" = 1 ]
	count=$(nsenter -t "$pid" -m -p -- /bin/sh -c 'ls /proc | grep -c "^[0-9]"')
	[ "$count" -le 5 ]
	# Its user is the image's unprivileged one.
	[ "$(awk '/^Uid:/ {print $2}' /proc/$pid/status)" = 1000 ]
	# Another network namespace than the host's.
	[ "$(readlink /proc/$pid/ns/net)" != "$(readlink /proc/self/ns/net)" ]
}

@test "env: the app sees a new value after nua env, secrets are hidden" {
	run "$NUA" env py GREETING=Hallo
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	run http_get py.test /
	[[ $output == *"<h1>Hallo</h1>"* ]]
	run "$NUA" env py
	[[ $output == *"GREETING=Hallo"* ]]
	[[ $output == *"SECRET_KEY=(secret"* ]]
	run "$NUA" env py --show-secrets
	[[ $output =~ SECRET_KEY=[A-Za-z0-9]{32} ]]
	# Stored sealed, never in clear in the database.
	secret=$("$NUA" env py --json --show-secrets | jq -r .SECRET_KEY)
	run grep -q "$secret" "$NUA_ROOT/nua.db"
	[ "$status" -eq 1 ]
	run "$NUA" env py -u NOPE
	[ "$status" -eq 2 ]
}

@test "stop makes the domain answer 503, start and restart bring it back" {
	run "$NUA" stop py
	[ "$status" -eq 0 ]
	run http_get py.test /
	[[ $output == "503 "* ]]
	run "$NUA" status --json py
	[ "$(echo "$output" | jq -r .state)" = stopped ]
	run "$NUA" start py
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	run http_get py.test /
	[[ $output == "200 "* ]]
	# The volume kept the count across the restart.
	[[ $output != *"Visit number 1."* ]]
	run "$NUA" restart py
	[ "$status" -eq 0 ]
	run http_get py.test /
	[[ $output == "200 "* ]]
}

@test "a memory limit kills an app that exceeds it" {
	run http_get py.test "/alloc?mb=16"
	[[ $output == "200 "* ]]
	run http_get py.test "/alloc?mb=200"
	[[ $output != "200 "* ]]
	for _ in $(seq 50); do
		state=$("$NUA" status --json py | jq -r .state)
		[ "$state" != running ] && break
		sleep 0.2
	done
	run "$NUA" status --json py
	[ "$(echo "$output" | jq -r .state)" = exited ]
	[ "$(echo "$output" | jq -r .oom_killed)" = true ] ||
		[ "$(echo "$output" | jq -r .exit_code)" = 137 ]
	run "$NUA" start py
	[ "$status" -eq 0 ]
}

@test "bad deploys fail clearly and change nothing" {
	# Another domain for an existing name (a redeploy keeps its domain), a
	# taken domain, a bad domain, a bad name, an unknown image.
	run "$NUA" deploy hello-python:1.0.0-1 --name py --domain other.test
	[ "$status" -eq 2 ]
	[[ $output == *"a redeploy keeps its domain"* ]]
	run "$NUA" deploy hello-python:1.0.0-1 --name py2 --domain py.test
	[ "$status" -eq 2 ]
	[[ $output == *"py.test"* ]]
	run "$NUA" deploy hello-python:1.0.0-1 --name py3 --domain 'bad_domain!'
	[ "$status" -eq 2 ]
	[[ $output == *"not a valid domain"* ]]
	run "$NUA" deploy hello-python:1.0.0-1 --name 'Bad Name'
	[ "$status" -eq 2 ]
	run "$NUA" deploy nosuch:1-1 --name x
	[ "$status" -eq 2 ]
	[[ $output == *"neither a package directory nor an image"* ]]
	run "$NUA" ls --json
	[ "$(echo "$output" | jq length)" -eq 2 ]
	run http_get py.test /
	[[ $output == "200 "* ]]
}

@test "a failing build command fails the build with its log" {
	pkg=$BATS_TEST_TMPDIR/broken
	mkdir -p "$pkg"
	cat >"$pkg/nua-config.toml" <<-'EOF'
	[metadata]
	id = "broken"
	version = "1"
	[build]
	build = ["echo about to fail", "false && echo never", "echo after the failure"]
	[run]
	start = "sleep 1000"
	EOF
	run "$NUA" deploy "$pkg" --domain broken.test
	[ "$status" -eq 1 ]
	[[ $output == *"step 'build' failed with exit status 1"* ]]
	[[ $output == *"about to fail"* ]]
	# A failure inside "a && b" stops the list too (sh -e alone goes on).
	[[ $output == *"nua: command 2 of the list failed with exit status 1"* ]]
	! grep -q "^after the failure" "$NUA_ROOT/logs/build/broken.log" || false
	run "$NUA" ls --json
	[ "$(echo "$output" | jq length)" -eq 2 ]
}

@test "an app that exits at once fails the deploy with its last lines, leaving nothing" {
	pkg=$BATS_TEST_TMPDIR/crash
	mkdir -p "$pkg"
	cat >"$pkg/nua-config.toml" <<-'EOF'
	[metadata]
	id = "crash"
	version = "1"
	[run]
	start = "echo cannot open the database >&2; exit 3"
	[port.web]
	container = 8080
	EOF
	run "$NUA" deploy "$pkg" --domain crash.test
	[ "$status" -eq 1 ]
	[[ $output == *"exited right after it started (exit status 3)"* ]]
	[[ $output == *"cannot open the database"* ]]
	[ ! -e "$NUA_ROOT/instances/crash" ]
	run "$NUA" status crash
	[ "$status" -eq 2 ]
	run http_get crash.test /
	[[ $output == "404 "* ]]
}

@test "a front door port taken by another program fails the deploy, leaving nothing" {
	port=$(free_port)
	"$NUA" image export hello-static:1.0.0-1 "$BATS_TEST_TMPDIR/img.tar"
	# The holder says when it listens (python may take seconds to start
	# on a busy machine, and the second nginx must come after it).
	python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
open(sys.argv[2], "w").write("held"); time.sleep(60)' "$port" "$BATS_TEST_TMPDIR/held" 3>&- &
	holder=$!
	for _ in $(seq 300); do [ -s "$BATS_TEST_TMPDIR/held" ] && break; sleep 0.1; done
	[ -s "$BATS_TEST_TMPDIR/held" ]
	# A second server, whose nginx port is the one taken.
	export NUA_ROOT=$BATS_TEST_TMPDIR/root2 NUA_RUN=$BATS_TEST_TMPDIR/r2 NUA_HTTP_PORT=$port
	mkdir -p "$NUA_ROOT" "$NUA_RUN"
	nua_start_daemon
	"$NUA" image import "$BATS_TEST_TMPDIR/img.tar"
	run "$NUA" deploy hello-static:1.0.0-1 --name taken --domain taken.test
	kill "$holder"
	[ "$status" -eq 1 ]
	[[ $output == *"127.0.0.1:$port"*"Address already in use"* ]]
	[ ! -e "$NUA_ROOT/instances/taken" ]
	run "$NUA" ls --json
	[ "$output" = "[]" ]
}

@test "a package asking for a host port is refused before anything runs" {
	pkg=$BATS_TEST_TMPDIR/hostport
	mkdir -p "$pkg"
	cat >"$pkg/nua-config.toml" <<-'EOF'
	[metadata]
	id = "hostport"
	version = "1"
	[run]
	start = "sleep 1000"
	[port.dns]
	container = 53
	host = 5353
	protocol = "udp"
	EOF
	run "$NUA" deploy "$pkg"
	[ "$status" -eq 2 ]
	[[ $output == *"[port.dns] host"* ]]
	[ ! -e "$NUA_ROOT/instances/hostport" ]
}

@test "an app's log is rotated at its size limit" {
	pkg=$BATS_TEST_TMPDIR/loud
	mkdir -p "$pkg"
	cat >"$pkg/nua-config.toml" <<-'EOF'
	[metadata]
	id = "loud"
	version = "1"
	[run]
	start = "i=0; while [ $i -lt 400000 ]; do echo line $i of a chatty app that logs far too much; i=$((i+1)); done; sleep 1000"
	EOF
	run "$NUA" deploy "$pkg"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	for _ in $(seq 100); do
		"$NUA" logs -n 1 loud | grep -q "line 399999" && break
		sleep 0.2
	done
	run "$NUA" logs -n 1 loud
	[ "$output" = "line 399999 of a chatty app that logs far too much" ]
	# About 34 MB were written; the file never holds more than 10 MiB.
	[ "$(stat -c %s "$NUA_ROOT/instances/loud/logs/app.log")" -le $((10 * 1024 * 1024)) ]
	run "$NUA" rm loud
	[ "$status" -eq 0 ]
}

@test "deploy -f deploys every site of a deploy file" {
	cat >"$BATS_TEST_TMPDIR/deploy.toml" <<-EOF
	[[site]]
	image = "hello-static:1.0.0-1"
	domain = "two.test/docs"
	label = "docs"
	[site.env]
	WHO = "file"
	EOF
	run "$NUA" deploy -f "$BATS_TEST_TMPDIR/deploy.toml"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ $output == *"http://two.test:$NUA_HTTP_PORT/docs"* ]]
	run "$NUA" env docs
	[[ $output == *"WHO=file"* ]]
	printf '[[site]]\nimag = "x"\n' >"$BATS_TEST_TMPDIR/bad.toml"
	run "$NUA" deploy -f "$BATS_TEST_TMPDIR/bad.toml"
	[ "$status" -eq 2 ]
	[[ $output == *"bad.toml:2:1: unknown key 'imag' in [[site]]; did you mean 'image'?"* ]]
	run "$NUA" rm docs
	[ "$status" -eq 0 ]
}

@test "rm keeps the volumes unless --purge" {
	run "$NUA" rm py
	[ "$status" -eq 0 ]
	[ -f "$NUA_ROOT/instances/py/volumes/data/visits" ]
	run http_get py.test /
	[[ $output == "404 "* ]]
	run "$NUA" deploy hello-python:1.0.0-1 --name py --domain py.test
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	run http_get py.test /
	[[ $output != *"Visit number 1."* ]]
	run "$NUA" rm --purge py
	[ "$status" -eq 0 ]
	[ ! -e "$NUA_ROOT/instances/py" ]
	run "$NUA" rm hello-static
	[ "$status" -eq 0 ]
	run "$NUA" ls --json
	[ "$(echo "$output" | jq length)" -eq 0 ]
}
