#!/usr/bin/env bats
# Stopping Nua: 'nua daemon stop' stops the daemon and leaves the apps
# serving; 'nua daemon stop --all' stops the whole platform (apps, resource
# servers, nginx, bridge), leaving nothing running, also when the daemon is
# already dead; the next 'nua daemon' brings back the same state.

load helpers
load server

get() { curl -s -m 10 -H "Host: $1.localhost" "http://127.0.0.1:$NUA_HTTP_PORT$2"; }
pid_of() { "$NUA" status --json "$1" | jq -r .pid; }

wait_running() { # every instance running and healthy, at most 120 s
	local i
	for i in $(seq 240); do
		[ "$("$NUA" ls --json 2>/dev/null | jq '[.[] | select(.state != "running" or .health != "healthy")] | length')" = 0 ] && return 0
		sleep 0.5
	done
	"$NUA" ls >&2
	return 1
}

wait_healthy() { # instance $1 running and healthy, at most 120 s
	local i
	for i in $(seq 240); do
		[ "$("$NUA" status --json "$1" 2>/dev/null | jq -r '"\(.state) \(.health)"')" = "running healthy" ] && return 0
		sleep 0.5
	done
	"$NUA" status "$1" >&2
	return 1
}

@test "stop: the daemon alone; the apps keep serving and the next daemon takes them over" {
	run "$NUA" deploy "$NUA_TOP/apps/hello-python" --name hello
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ "$(get hello /)" == *"Visit number 1."* ]]
	pid=$(pid_of hello)
	run "$NUA" daemon stop
	[ "$status" -eq 0 ]
	[[ $output == "stopped the nua daemon (pid "*"); the apps keep running" ]]
	[ ! -S "$NUA_RUN/nua.sock" ]
	[[ "$(get hello /)" == *"Visit number 2."* ]]
	run "$NUA" daemon stop
	[ "$status" -eq 0 ]
	[[ $output == "no nua daemon runs for '$NUA_RUN'" ]]
	"$NUA" daemon --detach
	wait_running
	[ "$(pid_of hello)" = "$pid" ]
}

@test "stop --all: apps, resource servers, nginx and bridge stop; the next daemon brings the same state back" {
	run "$NUA" deploy "$NUA_TOP/apps/notes-pg" --name notes
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(curl -s -m 10 -H 'Host: notes.localhost' -d kept "http://127.0.0.1:$NUA_HTTP_PORT/notes")" = stored ]
	gen=$("$NUA" status --json hello | jq .generation)
	run "$NUA" daemon stop --all
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ $output == *"stopping hello"* && $output == *"stopping nua-postgres"* && $output == *"stopped nginx"* ]]
	# Apps before the server they use.
	[ "$(grep -n 'stopping notes' <<<"$output" | cut -d: -f1)" -lt "$(grep -n 'stopping nua-postgres' <<<"$output" | cut -d: -f1)" ]
	run nua_leaks "$NUA_ROOT" "$NUA_RUN"
	[ -z "$output" ] || { echo "$output"; false; }
	run curl -s -m 5 "http://127.0.0.1:$NUA_HTTP_PORT/"
	[ "$status" -eq 7 ] # nobody listens
	"$NUA" daemon --detach
	wait_running
	[[ "$(get hello /)" == *"Visit number 3."* ]]
	[ "$(get notes /notes)" = '["kept"]' ]
	# The same generation, started again: nothing was redeployed.
	[ "$("$NUA" status --json hello | jq .generation)" = "$gen" ]
	[ "$("$NUA" ls --json | jq -r '[.[].desired] | unique | join(",")')" = running ]
}

@test "stop --all: a dead daemon's platform stops too, and a stopped instance stays stopped" {
	"$NUA" stop notes
	kill -9 "$(cat "$NUA_RUN/nua.pid")"
	run "$NUA" daemon stop --all
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ $output != *"stopped the nua daemon"* ]]
	[[ $output == *"stopped nginx"* ]]
	run nua_leaks "$NUA_ROOT" "$NUA_RUN"
	[ -z "$output" ] || { echo "$output"; false; }
	"$NUA" daemon --detach
	wait_healthy hello
	[[ "$(get hello /)" == *"Visit number 4."* ]] || { "$NUA" status hello; false; }
	[ "$("$NUA" status --json notes | jq -r .state)" = stopped ]
	[ "$("$NUA" status --json notes | jq -r .desired)" = stopped ]
}

@test "stop: an instance whose conmon was killed still stops, and starts again" {
	tag=$(nua_root_tag_of "$NUA_ROOT")
	gen=$("$NUA" status --json hello | jq .generation)
	conmon=$(pgrep -f "conmon .*-c nua-$tag-hello-g$gen ")
	[ -n "$conmon" ]
	kill -9 "$conmon"
	# Nobody is left to record the exit status: stopping must not wait
	# for one, nor fail.
	run "$NUA" stop hello
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	"$NUA" start hello
	wait_healthy hello
	[[ "$(get hello /)" == *"Visit number 5."* ]]
}

@test "stop: bad usage is refused with exit status 2" {
	run "$NUA" daemon stop now
	[ "$status" -eq 2 ]
	[[ $output == *"takes no arguments"* ]]
	run "$NUA" daemon stop --timeout 0
	[ "$status" -eq 2 ]
	[[ $output == *"--timeout '0'"* ]]
	run "$NUA" daemon sotp
	[ "$status" -eq 2 ]
}
