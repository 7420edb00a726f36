#!/usr/bin/env bats
# Packages of several processes under nua-init: [[process]], [[cron]],
# [[template]] and [run] first-start, with a real daemon and runtime.

load helpers
load server

page() { curl -s -m 10 -H "Host: $1.localhost" "http://127.0.0.1:$NUA_HTTP_PORT/"; }
data() { echo "$NUA_ROOT/instances/$1/volumes/data"; }

# Wait up to 20 s for the log of $1 to have a line matching $2.
wait_log() {
	local i
	for i in $(seq 100); do
		"$NUA" logs "$1" | grep -q -- "$2" && return 0
		sleep 0.2
	done
	echo "no '$2' in the log of $1:" >&2
	"$NUA" logs "$1" | tail -20 >&2
	return 1
}

@test "processes: several processes, a cron job, a template and a first start, each named in the log" {
	run "$NUA" deploy "$NUA_TOP/tests/e2e/apps/multi" --name multi
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ $output == *"first start of multi"* && $output == *"first start done"* ]]
	# The template, filled from the env at the start.
	[[ $(page multi) == *"<p>hello from multi</p>"* ]]
	[ "$(stat -c %a "$(data multi)/first-start")" ]
	[ "$(wc -l <"$(data multi)/first-start")" -eq 1 ]
	wait_log multi '^\[worker\] working$'
	wait_log multi '^\[stamp\] stamped$'
	# The cron job keeps running: every 2 s.
	sleep 4
	[ "$(wc -l <"$(data multi)/stamps")" -ge 2 ]
	"$NUA" events --since 0 --json | jq -s -e '[.[] | select(.instance == "multi" and .kind == "first-start")] | length == 1'
	# A new environment: the template is written again; the first start
	# does not run again, nor after a restart.
	"$NUA" env multi GREETING=bonjour >/dev/null
	[[ $(page multi) == *"<p>bonjour from multi</p>"* ]]
	"$NUA" restart multi >/dev/null
	[[ $(page multi) == *"<p>bonjour from multi</p>"* ]]
	[ "$(wc -l <"$(data multi)/first-start")" -eq 1 ]
	# PID 1 is nua-init, read-only from the host.
	pid=$("$NUA" status --json multi | jq .pid)
	[[ $(tr '\0' ' ' </proc/"$pid"/cmdline) == "/.nua-init --template /nua/build/index.html.in /var/www/index.html 0644 --process web "* ]]
}

@test "processes: one process failing fails the instance: a restart keeps the old one, a crash is restarted" {
	touch "$(data multi)/poison"
	run "$NUA" restart multi
	[ "$status" -eq 1 ]
	[[ $output == *"did not become healthy, and the previous one still serves"* ]]
	[[ $output == *"nua-init: process worker exited with status 7: stopping the others"* ]]
	[[ $(page multi) == *"bonjour from multi"* ]]
	# The running one's worker dies: the whole instance is a crash, and
	# once the cause is gone the supervisor's restart brings it back.
	rm "$(data multi)/poison"
	pid=$("$NUA" status --json multi | jq .pid)
	pkill -KILL -f -P "$pid" "sleep 100000" || pkill -KILL -f "^sleep 100000$"
	wait_log multi 'nua-init: process worker exited with status 137'
	local i
	for i in $(seq 100); do
		[ "$("$NUA" status --json multi | jq -r '.restarts')" -ge 1 ] &&
			[ "$("$NUA" status --json multi | jq -r .health)" = healthy ] && break
		sleep 0.2
	done
	[ "$("$NUA" status --json multi | jq -r '.restarts')" -ge 1 ]
	[[ $(page multi) == *"bonjour from multi"* ]]
	"$NUA" events --since 0 --json | jq -s -e '[.[] | select(.instance == "multi" and .kind == "crash")] | length >= 1'
}

@test "processes: a template naming a variable the env lacks, a failing first start: clear errors, nothing left" {
	local pkg=$BATS_TEST_TMPDIR/hole
	cp -r "$NUA_TOP/tests/e2e/apps/multi" "$pkg"
	sed -i 's/{{ GREETING }}/{{ NO_SUCH_VARIABLE }}/' "$pkg/index.html.in"
	sed -i 's/^id = "multi"/id = "hole"/' "$pkg/nua-config.toml"
	run "$NUA" deploy "$pkg" --name hole
	[ "$status" -eq 1 ]
	[[ $output == *"{{NO_SUCH_VARIABLE}} is not in the environment"* ]]
	run "$NUA" status hole
	[ "$status" -eq 2 ]
	pkg=$BATS_TEST_TMPDIR/badfirst
	cp -r "$NUA_TOP/tests/e2e/apps/multi" "$pkg"
	sed -i 's/^id = "multi"/id = "badfirst"/; s/^first-start = .*/first-start = ["echo cannot make the schema >\&2; exit 3"]/' \
		"$pkg/nua-config.toml"
	run "$NUA" deploy "$pkg" --name badfirst
	[ "$status" -eq 1 ]
	[[ $output == *"the first start of 'badfirst' failed with exit status 3"* ]]
	[[ $output == *"cannot make the schema"* ]]
	run "$NUA" status badfirst
	[ "$status" -eq 2 ]
	[[ $(page badfirst) == *"no app is deployed"* ]]
	# The same name deployed again runs its first start again.
	sed -i 's/^first-start = .*/first-start = ["echo made"]/' "$pkg/nua-config.toml"
	run "$NUA" deploy "$pkg" --name badfirst
	[ "$status" -eq 0 ]
	[[ $output == *"made"* ]]
	"$NUA" rm badfirst >/dev/null
}
