# What the store's test files share (load helpers, then server, then this).
# The daemon reads the project's store unless the file set NUA_STORE first;
# each app's file installs it, then talks to it as a person would, through
# nginx on its host APP.localhost.

export NUA_STORE=${NUA_STORE:-$NUA_TOP/store}

# curl with a cookie jar per test, for the host $1.localhost; the rest are
# curl's arguments. $base is the server's URL.
base=http://127.0.0.1:$NUA_HTTP_PORT
web() {
	local host=$1
	shift
	curl -s -m 30 -b "$BATS_TEST_TMPDIR/jar" -c "$BATS_TEST_TMPDIR/jar" \
		-H "Host: $host.localhost" "$@"
}

# The value of the variable $2 of instance $1, secrets shown.
secret() { "$NUA" env --json --show-secrets "$1" | jq -r ".$2"; }

# nua install APP [ARGS...], which must succeed; its output is in $output.
store_install() {
	run "$NUA" install "$@"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
}
