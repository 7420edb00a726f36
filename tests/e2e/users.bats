#!/usr/bin/env bats
# Users, groups and tokens; the API from afar through nginx on the admin
# domain over HTTPS, with tokens and their roles; the audit log; nua login.

load helpers
load server

# The most an upload may hold, for the daemon of this file.
export NUA_UPLOAD_MAX=2000000

file_setup() {
	"$NUA" deploy "$NUA_TOP/apps/hello-static" --name blog >/dev/null 2>&1
	"$NUA" deploy hello-static:1.0.0-1 --name shop >/dev/null 2>&1
	"$NUA" server domain admin.localhost >/dev/null
	"$NUA" tls ca >"$BATS_FILE_TMPDIR/ca.pem"
}

# The remote API's URL, and nua run against it with the token $1.
api_url() { echo "https://admin.localhost:$NUA_HTTPS_PORT"; }
remote() {
	local token=$1
	shift
	NUA_HOST=$(api_url) NUA_TOKEN=$token NUA_CACERT=$BATS_FILE_TMPDIR/ca.pem "$NUA" "$@"
}
# curl to the remote API with the token $1; prints the status, then the body.
rcurl() {
	local token=$1 method=$2 path=$3
	shift 3
	curl -s -m 20 --cacert "$BATS_FILE_TMPDIR/ca.pem" -X "$method" -w '\n%{http_code}' \
		-H "Authorization: Bearer $token" "$@" "$(api_url)$path"
}
token() { "$NUA" token create --json "$@" | jq -r .token; }

@test "users: added with a password from stdin, listed, changed and removed; argon2id only" {
	run "$NUA" user add alice --role admin --email alice@example.org <<<"correct horse battery"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$output" = "added user alice (admin)" ]
	"$NUA" user add bob <<<"bob's long password"
	run "$NUA" user ls
	[[ ${lines[0]} == "USER "*"ROLE"*"EMAIL"*"GROUPS"* ]]
	[[ $output == *"alice "*"admin "*"alice@example.org"* ]]
	[[ $output == *"bob "*"user "* ]]
	# The password is nowhere in clear, and the hash is argon2id.
	! grep -rqF "correct horse battery" "$NUA_ROOT/nua.db" "$NUA_ROOT/daemon.log" || false
	[[ $("$NUA" audit --json) != *"correct horse"* ]]
	run sqlite3 "$NUA_ROOT/nua.db" "SELECT password FROM users WHERE name = 'alice'"
	[[ $output == '$argon2id$v=19$m=65536,t=3,p=1$'* ]]
	# Bad input: exit 2, nothing changed.
	run "$NUA" user add carol <<<"short"
	[ "$status" -eq 2 ]
	[[ $output == *"a password needs 10 characters or more"* ]]
	run "$NUA" user add alice <<<"another long one"
	[ "$status" -eq 2 ]
	[[ $output == *"a user named 'alice' exists already"* ]]
	run "$NUA" user add Carol <<<"a long password"
	[ "$status" -eq 2 ]
	[[ $output == *"invalid user name 'Carol'"* ]]
	run "$NUA" user role bob root
	[ "$status" -eq 2 ]
	[[ $output == *"invalid role 'root': admin or user"* ]]
	[ "$("$NUA" user ls --json | jq length)" -eq 2 ]
	# passwd and role.
	"$NUA" user passwd bob <<<"bob's new password"
	"$NUA" user role bob admin
	[ "$("$NUA" user ls --json | jq -r '.[] | select(.name == "bob") | .role')" = admin ]
	run "$NUA" user rm bob
	[ "$output" = "removed user bob" ]
	run "$NUA" user rm bob
	[ "$status" -eq 2 ]
	[[ $output == *"no user 'bob'"* ]]
}

@test "groups: made, joined, left and removed" {
	"$NUA" user add dave <<<"dave's long password"
	"$NUA" group add dev
	run "$NUA" group join dev dave
	[ "$output" = "dave joined group dev" ]
	run "$NUA" group
	[[ $output == *"dev "*"dave"* ]]
	[ "$("$NUA" user ls --json | jq -c '.[] | select(.name == "dave") | .groups')" = '["dev"]' ]
	run "$NUA" group join ops dave
	[ "$status" -eq 2 ]
	[[ $output == *"no group 'ops'"* ]]
	"$NUA" group leave dev dave
	run "$NUA" group leave dev dave
	[ "$status" -eq 2 ]
	"$NUA" group rm dev
	[ "$("$NUA" group ls --json | jq length)" -eq 0 ]
}

@test "tokens: shown once, kept hashed, listed without their secret, revoked" {
	run "$NUA" token create --name ci --instance blog --expires 30d
	[ "$status" -eq 0 ]
	local tok
	tok=$(grep '^nua_' <<<"$output")
	[[ ${lines[0]} == "token ci ("*", role deploy, instance blog):" ]]
	[ "${lines[1]}" = "$tok" ]
	[[ $output == *"(shown once"* ]]
	! grep -qF "${tok:17}" "$NUA_ROOT/nua.db" || false
	run "$NUA" token ls
	[[ $output == *"ci "*"deploy "*"blog "* ]]
	[[ $output != *"$tok"* ]]
	# Bad input.
	run "$NUA" token create --name ci2 --role root
	[ "$status" -eq 2 ]
	[[ $output == *"invalid token role 'root': admin, deploy or read"* ]]
	run "$NUA" token create
	[ "$status" -eq 2 ]
	# It works, then it is revoked and does not.
	[ "$(rcurl "$tok" GET /v1/me | tail -1)" = 200 ]
	"$NUA" token rm ci
	run rcurl "$tok" GET /v1/me
	[ "${lines[-1]}" = 401 ]
	[[ $output == *"invalid or expired token"* ]]
}

@test "remote API: the CLI works from afar with an admin token, over HTTPS only" {
	local tok
	tok=$(token --name laptop --role admin)
	run remote "$tok" ls
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ $output == *"blog"*"running"* && $output == *"shop"* ]]
	run remote "$tok" status blog
	[ "$status" -eq 0 ]
	run remote "$tok" restart shop
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	run remote "$tok" env blog GREETING=hello
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	# Without a token, with a wrong one: 401.
	run rcurl "" GET /v1/instances
	[ "${lines[-1]}" = 401 ]
	run remote nua_0123456789ab_notavalidtokennotavalidtokennotavalidtok ls
	[ "$status" -ne 0 ]
	[[ $output == *"invalid or expired token"* ]]
	# Over plain HTTP a token does not count.
	run curl -s -H "Host: admin.localhost" -H "Authorization: Bearer $tok" \
		"http://127.0.0.1:$NUA_HTTP_PORT/v1/me"
	[[ $output == *"over HTTPS only"* ]]
	# What touches the server's own files, or its backup key: root's only.
	run remote "$tok" backup key
	[ "$status" -ne 0 ]
	[[ $output == *"done on the server itself"* ]]
	run rcurl "$tok" POST /v1/instances -d "{\"source\": \"$NUA_TOP/apps/hello-static\", \"name\": \"x\"}"
	[ "${lines[-1]}" = 403 ]
	[[ $output == *"cannot be deployed through the remote API"* ]]
	run rcurl "$tok" POST /v1/instances/blog/export -d '{"path": "/tmp/x.nua"}'
	[ "${lines[-1]}" = 403 ]
	[ ! -e /tmp/x.nua ]
}

@test "remote API: deploy and read tokens, and one limited to an instance" {
	local dep rd one
	dep=$(token --name ci --role deploy)
	rd=$(token --name watch --role read)
	one=$(token --name blog-ci --role deploy --instance blog)
	# read: looks, never changes, no secrets.
	run remote "$rd" ls
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(rcurl "$rd" POST /v1/instances/blog/restart | tail -1)" = 403 ]
	run rcurl "$rd" GET "/v1/instances/blog/env?show_secrets=1"
	[ "${lines[-1]}" = 403 ]
	[[ $output == *"secrets need a token of the deploy or admin role"* ]]
	[ "$(rcurl "$rd" GET /v1/users | tail -1)" = 403 ]
	# deploy: runs instances, deploys images, removes nothing, no users.
	[ "$(rcurl "$dep" POST /v1/instances/shop/restart | tail -1)" = 200 ]
	[ "$(rcurl "$dep" DELETE /v1/instances/shop | tail -1)" = 403 ]
	[ "$(rcurl "$dep" POST /v1/tokens -d '{"name": "more"}' | tail -1)" = 403 ]
	run remote "$dep" deploy hello-static:1.0.0-1 --name stage
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	"$NUA" status stage >/dev/null
	"$NUA" rm stage >/dev/null
	# One instance only.
	[ "$(rcurl "$one" POST /v1/instances/blog/restart | tail -1)" = 200 ]
	run rcurl "$one" POST /v1/instances/shop/restart
	[ "${lines[-1]}" = 403 ]
	[[ $output == *"limited to another instance"* ]]
	# It sees its instance only.
	[ "$(rcurl "$one" GET /v1/instances | head -1 | jq -c 'map(.name)')" = '["blog"]' ]
	[ "$(rcurl "$one" GET /v1/events | tail -1)" = 403 ]
	[ "$(rcurl "$one" GET "/v1/events?instance=blog" | tail -1)" = 200 ]
	run remote "$one" deploy hello-static:1.0.0-1 --name other
	[ "$status" -ne 0 ]
	[[ $output == *"may deploy its own instance only"* ]]
	run "$NUA" status other
	[ "$status" -eq 2 ]
}

@test "remote deploy: a directory of the laptop is uploaded, checked, built and deployed" {
	local dep one pkg=$BATS_TEST_TMPDIR/site
	dep=$(token --name up --role deploy)
	one=$(token --name up-blog --role deploy --instance blog)
	cp -r "$NUA_TOP/apps/hello-static" "$pkg"
	echo "<h1>Uploaded</h1>" >"$pkg/html/index.html"
	run remote "$dep" deploy "$pkg" --name uploaded
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ $(curl -s -H "Host: uploaded.localhost" "http://127.0.0.1:$NUA_HTTP_PORT/") == *"<h1>Uploaded</h1>"* ]]
	# A build alone works the same way, and an upgrade to a new version.
	run remote "$dep" build "$pkg"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	sed -i 's/^version = "1.0.0"/version = "1.0.1"/' "$pkg/nua-config.toml"
	echo "<h1>Uploaded again</h1>" >"$pkg/html/index.html"
	run remote "$dep" upgrade uploaded "$pkg"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ $(curl -s -H "Host: uploaded.localhost" "http://127.0.0.1:$NUA_HTTP_PORT/") == *"Uploaded again"* ]]
	# Not to a package on the server's disk.
	run rcurl "$dep" POST /v1/instances/uploaded/upgrade -d "{\"source\": \"$NUA_TOP/apps/hello-static\"}"
	[ "${lines[-1]}" = 403 ]
	[[ $output == *"cannot be named through the remote API"* ]]
	# A token of one instance may upload and deploy it, under its name.
	run remote "$one" deploy "$pkg" --name blog
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ $(curl -s -H "Host: blog.localhost" "http://127.0.0.1:$NUA_HTTP_PORT/") == *"Uploaded"* ]]
	# Nor may a token of one instance restore a copy as another.
	run rcurl "$one" POST /v1/instances/blog/restore -d '{"as": "blog2"}'
	[ "${lines[-1]}" = 403 ]
	[[ $output == *"cannot restore a copy as another"* ]]
	# What is not a package: refused, nothing kept.
	run rcurl "$dep" POST /v1/packages --data-binary "not an archive"
	[ "${lines[-1]}" = 400 ]
	[[ $output == *"the upload is not a package archive"* ]]
	mkdir -p "$BATS_TEST_TMPDIR/evil"
	echo x >"$BATS_TEST_TMPDIR/evil/x"
	tar --zstd -cf "$BATS_TEST_TMPDIR/evil.nua" -C "$BATS_TEST_TMPDIR/evil" --transform 's,^,../,' x
	run rcurl "$dep" POST /v1/packages --data-binary "@$BATS_TEST_TMPDIR/evil.nua"
	[ "${lines[-1]}" = 400 ]
	[ ! -e "$NUA_ROOT/x" ] && [ ! -e "$NUA_ROOT/uploads/x" ]
	head -c 3000000 /dev/urandom >"$BATS_TEST_TMPDIR/big"
	run rcurl "$dep" POST /v1/packages --data-binary "@$BATS_TEST_TMPDIR/big"
	[ "${lines[-1]}" = 413 ]
	[[ $output == *"over 2000000 bytes"* ]]
	# A read token may not upload; no temporary file stays.
	[ "$(rcurl "$(token --name ro --role read)" POST /v1/packages --data-binary "x" | tail -1)" = 403 ]
	[ -z "$(find "$NUA_ROOT/uploads" -name '.upload-*')" ]
}

@test "audit: every change and every refusal, with who and from where" {
	local tok
	tok=$(token --name auditor --role read)
	rcurl "$tok" POST /v1/instances/blog/stop >/dev/null
	rcurl "nua_bad" GET /v1/instances >/dev/null
	run "$NUA" audit --json
	echo "$output" | jq -e 'any(.[]; (.who | startswith("token auditor (")) and
		.origin == "127.0.0.1" and .method == "POST" and .path == "/v1/instances/blog/stop" and
		.status == 403)'
	echo "$output" | jq -e 'any(.[]; .who == "unknown" and .status == 401 and .path == "/v1/instances")'
	echo "$output" | jq -e 'any(.[]; .who == "root" and .origin == "socket" and .path == "/v1/tokens" and
		.status == 201)'
	# No token, no password in it.
	! grep -qF "$tok" <<<"$output" || false
	"$NUA" status blog | grep -q running
	run "$NUA" audit -n 2
	[ "${#lines[@]}" -eq 3 ]
}

@test "nua login keeps the server and the token (0600), checked first; logout forgets them" {
	local tok
	tok=$(token --name laptop2 --role admin)
	export XDG_CONFIG_HOME=$BATS_TEST_TMPDIR/config
	run env -u NUA_ROOT -u NUA_RUN "$NUA" login "$(api_url)" --cacert "$BATS_FILE_TMPDIR/ca.pem" <<<"nua_0123456789ab_wrongwrongwrongwrongwrongwrongwrongwrong"
	[ "$status" -ne 0 ]
	[ ! -e "$XDG_CONFIG_HOME/nua/remote.json" ]
	run env -u NUA_ROOT -u NUA_RUN "$NUA" login "http://admin.localhost:$NUA_HTTP_PORT" <<<"$tok"
	[ "$status" -eq 2 ]
	[[ $output == *"over HTTPS"* ]]
	run env -u NUA_ROOT -u NUA_RUN "$NUA" login "$(api_url)" --cacert "$BATS_FILE_TMPDIR/ca.pem" <<<"$tok"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ $output == "logged in to $(api_url) as token laptop2"*"(role admin)"* ]]
	[ "$(stat -c %a "$XDG_CONFIG_HOME/nua/remote.json")" = 600 ]
	run env -u NUA_ROOT -u NUA_RUN "$NUA" ls
	[ "$status" -eq 0 ]
	[[ $output == *"blog"* ]]
	# The server saw the token used.
	"$NUA" token ls --json | jq -e '.[] | select(.name == "laptop2") | .last_used_at > 0'
	run env -u NUA_ROOT -u NUA_RUN "$NUA" logout
	[ "$status" -eq 0 ]
	[ ! -e "$XDG_CONFIG_HOME/nua/remote.json" ]
}

@test "server: the admin domain is refused to instances, and 'domain --none' stops the remote API" {
	run "$NUA" deploy hello-static:1.0.0-1 --name adm --domain admin.localhost
	[ "$status" -eq 2 ]
	[[ $output == *"domain 'admin.localhost' is the server's admin domain"* ]]
	run "$NUA" server domain blog.localhost
	[ "$status" -eq 2 ]
	[[ $output == *"is used by instance 'blog'"* ]]
	run "$NUA" server domain 'not a domain'
	[ "$status" -eq 2 ]
	run "$NUA" server
	[[ $output == *"admin domain: admin.localhost"* ]]
	[[ $output == *"remote API:   https://admin.localhost:$NUA_HTTPS_PORT"* ]]
	local tok
	tok=$(token --name last --role admin)
	"$NUA" server domain --none
	run rcurl "$tok" GET /v1/me
	[ "${lines[-1]}" != 200 ]
	"$NUA" server domain admin.localhost
	[ "$(rcurl "$tok" GET /v1/me | tail -1)" = 200 ]
}
