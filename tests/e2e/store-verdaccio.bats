#!/usr/bin/env bats
# The store's Verdaccio: installed in one command, its web page, registration
# closed, the admin's login, a tiny package published and read back with the
# host's npm through nginx, backed up, a second version published, restored.
load helpers
load server
load store

# npm and curl reach the registry by its own URL. curl resolves *.localhost
# itself; npm (Node through glibc, without nss-myhostname here) does not,
# so its .npmrc names nginx as its HTTP proxy: the requests still carry the
# registry's URL, and nginx routes them by its host.
verdaccio_npm() {
	NPM_CONFIG_USERCONFIG=$BATS_TEST_TMPDIR/npmrc npm --prefer-online --no-audit --no-fund \
		--no-update-notifier "$@"
}

# Write version $1 of the package @nua-test/hello and publish it.
verdaccio_publish() {
	mkdir -p "$BATS_TEST_TMPDIR/pkg"
	jq -n --arg v "$1" '{name: "@nua-test/hello", version: $v, main: "index.js",
		description: "A tiny package from the Nua tests", license: "MIT"}' \
		>"$BATS_TEST_TMPDIR/pkg/package.json"
	echo "module.exports = 'Hello from the Nua tests, version $1';" >"$BATS_TEST_TMPDIR/pkg/index.js"
	(cd "$BATS_TEST_TMPDIR/pkg" && verdaccio_npm publish)
}

@test "store: verdaccio installs; its admin publishes a package with npm, backed up and restored" {
	store_install verdaccio
	[[ $output == *"Verdaccio 6.5.2-1 installed as verdaccio: http://verdaccio.localhost:$NUA_HTTP_PORT/"* ]]
	[[ $output == *"admin login:    admin"* ]]
	local pw reg=http://verdaccio.localhost:$NUA_HTTP_PORT/ token
	pw=$(secret verdaccio ADMIN_PASSWORD)
	[ ${#pw} -eq 20 ]
	# Its web page, and its API at its own URL.
	[[ $(web verdaccio "$base/") == *"<title>Verdaccio</title>"* ]]
	[ "$(curl -s -m 30 "$reg-/ping")" = "{}" ]
	# A private registry: nothing for anonymous readers, and no new users.
	[ "$(curl -s -m 30 -o /dev/null -w '%{http_code}' "$reg@nua-test%2fhello")" = 401 ]
	[[ $(curl -s -m 30 -X PUT -H 'Content-Type: application/json' -d '{"name": "bob", "password": "bob-password-1"}' \
		"$reg-/user/org.couchdb.user:bob") == *'"error": "user registration disabled"'* ]]
	# The admin logs in as npm login does (its password in a 0600 curl config,
	# never on a command line); the token goes to a temporary .npmrc.
	(umask 077 && printf 'user = "admin:%s"\n' "$pw" >"$BATS_TEST_TMPDIR/curl-admin")
	token=$(jq -n --arg pw "$pw" '{name: "admin", password: $pw}' | curl -s -m 30 -K "$BATS_TEST_TMPDIR/curl-admin" \
		-X PUT -H 'Content-Type: application/json' --data-binary @- "$reg-/user/org.couchdb.user:admin" | jq -r .token)
	[ -n "$token" ]
	[ "$token" != null ]
	(umask 077 && cat >"$BATS_TEST_TMPDIR/npmrc" <<-NPMRC
	registry=$reg
	proxy=http://127.0.0.1:$NUA_HTTP_PORT/
	cache=$BATS_TEST_TMPDIR/npm-cache
	//verdaccio.localhost:$NUA_HTTP_PORT/:_authToken=$token
	NPMRC
	)
	[ "$(verdaccio_npm whoami)" = admin ]
	# Published, read back.
	verdaccio_publish 1.0.0
	[ "$(verdaccio_npm view @nua-test/hello versions --json | jq -c .)" = '["1.0.0"]' ]
	[ "$(verdaccio_npm view @nua-test/hello description)" = "A tiny package from the Nua tests" ]
	# Backed up, a second version, restored: the second version is gone.
	"$NUA" backup verdaccio >/dev/null
	verdaccio_publish 1.0.1
	[ "$(verdaccio_npm view @nua-test/hello versions --json | jq -c .)" = '["1.0.0","1.0.1"]' ]
	"$NUA" restore verdaccio >/dev/null
	[ "$(verdaccio_npm view @nua-test/hello versions --json | jq -c .)" = '["1.0.0"]' ]
	[ "$(verdaccio_npm view @nua-test/hello dist-tags.latest)" = 1.0.0 ]
	[ "$(verdaccio_npm whoami)" = admin ]
}
