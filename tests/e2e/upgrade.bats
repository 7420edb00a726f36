#!/usr/bin/env bats
# Upgrades: a backup first, the package's migration run once before the
# new version serves, a rollback by itself when the migration or the new
# version fails (old version serving, data as it was), and on demand.

load helpers
load server

get() { curl -s -m 10 -H "Host: up.localhost" "http://127.0.0.1:$NUA_HTTP_PORT$1"; }

# Version $1 of the package "up" (hello-python titled "Hello v$1"), with the
# [run] migrate line $2 (none when empty) and, with $3 = sick, a health
# check that never passes. Prints its directory.
version() {
	local pkg=$BATS_FILE_TMPDIR/up-$1
	rm -rf "$pkg"
	cp -r "$NUA_TOP/apps/hello-python" "$pkg"
	sed -i -e 's/^id = "hello-python"/id = "up"/' -e "s/^version = .*/version = \"$1.0.0\"/" \
		"$pkg/nua-config.toml"
	sed -i "s/<title>Hello Python/<title>Hello v$1/" "$pkg/app.py"
	if [ -n "$2" ]; then
		sed -i "/^start = /a migrate = \"$2\"" "$pkg/nua-config.toml"
	fi
	if [ "${3:-}" = sick ]; then
		sed -i -e 's|^path = "/health"|path = "/nope"|' -e 's/^start-period = .*/start-period = 5/' \
			"$pkg/nua-config.toml"
	fi
	echo "$pkg"
}

file_setup() {
	"$NUA" deploy "$(version 1 '')" --name up >/dev/null
}

migrations() { cat "$NUA_ROOT/instances/up/volumes/data/migrations" 2>/dev/null; }

@test "upgrade: a backup, the migration once, the new version serving with the data" {
	[[ "$(get /)" == *"<title>Hello v1</title><h1>Hello from Nua</h1><p>Visit number 1."* ]]
	run "$NUA" upgrade up "$(version 2 'echo to-2 >>/var/lib/hello/migrations')"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ "$output" == *"backing up up before its upgrade to up:2.0.0-1"* ]]
	[[ "$output" == *"migrating up: echo to-2 >>/var/lib/hello/migrations"* ]]
	[[ "$output" == *"up upgraded to up:2.0.0-1"* ]]
	[[ "$(get /)" == *"<title>Hello v2</title><h1>Hello from Nua</h1><p>Visit number 2."* ]]
	[ "$(migrations)" = to-2 ]
	# Once: a restart does not migrate again.
	"$NUA" restart up
	[ "$(migrations)" = to-2 ]
	[ "$("$NUA" backups --json up | jq -r '.[-1] | .kind, .image' | tr '\n' ' ')" = "upgrade up:1.0.0-1 " ]
	run "$NUA" upgrade up up:2.0.0-1
	[ "$status" -eq 2 ]
	[[ "$output" == *"'up' runs 'up:2.0.0-1' already"* ]]
}

@test "upgrade: a migration that fails rolls back, old version and data as they were" {
	run "$NUA" upgrade up "$(version 3 'echo half-done >>/var/lib/hello/migrations; exit 3')"
	[ "$status" -eq 1 ]
	[[ "$output" == *"the migration of 'up' failed with exit status 3"* ]]
	[[ "$output" == *"rolled back to up:2.0.0-1 with its data of snapshot"* ]]
	[[ "$(get /)" == *"<title>Hello v2</title>"* ]]
	# What the migration wrote went with the rollback.
	[ "$(migrations)" = to-2 ]
	[ "$("$NUA" status --json up | jq -r .image)" = up:2.0.0-1 ]
	run "$NUA" events --since 0 --json
	[[ "$output" == *'"kind":"upgrade-failed"'* ]]
	[[ "$output" == *'"kind":"rollback"'* ]]
}

@test "upgrade: a new version that never becomes healthy rolls back too" {
	run "$NUA" upgrade up "$(version 4 'echo to-4 >>/var/lib/hello/migrations' sick)"
	[ "$status" -eq 1 ]
	[[ "$output" == *"did not become healthy"* ]]
	[[ "$output" == *"rolled back to up:2.0.0-1"* ]]
	[[ "$(get /)" == *"<title>Hello v2</title>"* ]]
	[ "$(migrations)" = to-2 ]
}

@test "upgrade: without a version, the newest image of the package; rollback on demand" {
	"$NUA" build "$(version 5 'echo to-5 >>/var/lib/hello/migrations')" >/dev/null 2>&1
	before=$(get /)
	run "$NUA" upgrade up
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ "$(get /)" == *"<title>Hello v5</title>"* ]]
	[ "$(migrations)" = $'to-2\nto-5' ]
	run "$NUA" rollback up
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ "$output" == *"up rolled back to up:2.0.0-1"* ]]
	[[ "$(get /)" == *"<title>Hello v2</title>"* ]]
	[ "$(migrations)" = to-2 ]
	run "$NUA" upgrade up notes-pg:1.0-1
	[ "$status" -eq 2 ]
	run "$NUA" rollback nosuch
	[ "$status" -eq 2 ]
}
