#!/usr/bin/env bats
# A daemon SIGKILLed at random points of backups, restores and upgrades,
# ten rounds each: when it starts again the instance serves, either fully
# as before the operation or fully as after it, and nothing of the
# operation is left half done.

load helpers
load server

notes() { curl -s -m 10 -H "Host: crash.localhost" "http://127.0.0.1:$NUA_HTTP_PORT/notes" "$@"; }

# notes-pg, version $1, frozen while its files are read.
version() {
	local pkg=$BATS_FILE_TMPDIR/crash-$1
	rm -rf "$pkg"
	cp -r "$NUA_TOP/apps/notes-pg" "$pkg"
	sed -i -e 's/^id = "notes-pg"/id = "crash"/' -e "s/^version = .*/version = \"$1\"/" \
		"$pkg/nua-config.toml"
	printf '\n[backup]\npause = true\n' >>"$pkg/nua-config.toml"
	echo "$pkg"
}

file_setup() {
	"$NUA" build "$(version 1.0)" >/dev/null 2>&1
	"$NUA" build "$(version 2.0)" >/dev/null 2>&1
	"$NUA" deploy crash:1.0-1 --name crash >/dev/null
	notes -d base >/dev/null
	"$NUA" backup crash >/dev/null 2>&1
}

# Run "nua $*" in the background, SIGKILL the daemon after a random
# moment (up to 3 s) of it, start the daemon again, wait until the
# instance serves.
kill_during() {
	"$NUA" "$@" >"$BATS_TEST_TMPDIR/op.out" 2>&1 &
	local op=$! i
	sleep "$((RANDOM % 3)).$((RANDOM % 10))"
	kill -9 "$(cat "$NUA_RUN/nua.pid")"
	wait "$op" || true
	"$NUA" daemon --detach 3>&-
	for i in $(seq 240); do
		[ "$("$NUA" status --json crash 2>/dev/null | jq -r '.state + " " + .health')" = "running healthy" ] &&
			[ -n "$(notes)" ] && [ ! -e "$NUA_ROOT/instances/crash/restore" ] && return 0
		sleep 0.5
	done
	echo "crash does not serve again after: $*" >&2
	cat "$BATS_TEST_TMPDIR/op.out" >&2
	"$NUA" status crash >&2
	return 1
}

# The container of the instance is not left frozen.
not_frozen() {
	! runc --root "$NUA_RUN/oci/runc" list 2>/dev/null | grep -q paused || false
}

@test "crash: a daemon killed during backups, ten times" {
	for round in $(seq 10); do
		before=$(notes)
		kill_during backup crash
		[ "$(notes)" = "$before" ]
		not_frozen
		[ ! -e "$NUA_ROOT/instances/crash/backup/frozen" ]
		notes -d "b$round" >/dev/null
	done
	# A backup after all that works, and restic finds its repository whole.
	run "$NUA" backup crash
	[ "$status" -eq 0 ] || { echo "$output"; false; }
}

@test "crash: a daemon killed during restores, ten times: fully before or fully after" {
	base=$("$NUA" backups --json crash | jq -r '[.[] | select(.kind == "manual")][0].id')
	for round in $(seq 10); do
		notes -d "r$round" >/dev/null
		before=$(notes)
		kill_during restore crash "${base:0:8}"
		after=$(notes)
		[ "$after" = '["base"]' ] || [ "$after" = "$before" ] || {
			echo "round $round: $after, neither '[\"base\"]' nor $before"
			false
		}
		not_frozen
		[ ! -e "$NUA_ROOT/instances/crash/restore" ]
	done
}

@test "crash: a daemon killed during upgrades, ten times: one version or the other, data kept" {
	for round in $(seq 10); do
		notes -d "u$round" >/dev/null
		before=$(notes)
		from=$("$NUA" status --json crash | jq -r .image)
		[ "$from" = crash:1.0-1 ] && to=crash:2.0-1 || to=crash:1.0-1
		kill_during upgrade crash "$to"
		now=$("$NUA" status --json crash | jq -r .image)
		[ "$now" = "$from" ] || [ "$now" = "$to" ]
		[ "$(notes)" = "$before" ]
		not_frozen
	done
}
