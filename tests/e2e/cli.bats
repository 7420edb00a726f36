#!/usr/bin/env bats
# The CLI's surface: help, version, command lookup, exit statuses, completion.

load helpers

setup() {
	nua_setup_root
	nua_start_daemon
}
teardown() { nua_teardown_test; }

@test "nua --version prints the version" {
	run "$NUA" --version
	[ "$status" -eq 0 ]
	[[ $output == "nua "* ]]
	run "$NUA" version
	[ "$status" -eq 0 ]
}

@test "nua help lists every command of the table" {
	run "$NUA" help
	[ "$status" -eq 0 ]
	[[ $output == *"check"* ]]
	[[ $output == *"completion"* ]]
	run "$NUA" --help
	[ "$status" -eq 0 ]
}

@test "nua help CMD shows usage and options" {
	run "$NUA" help check
	[ "$status" -eq 0 ]
	[[ $output == "usage: nua check"* ]]
	[[ $output == *"--json"* ]]
	run "$NUA" check --help
	[ "$status" -eq 0 ]
	[[ $output == "usage: nua check"* ]]
}

@test "an unknown command is exit 2 and names the nearest one" {
	run "$NUA" chek
	[ "$status" -eq 2 ]
	[[ $output == *"'chek' is not a nua command; did you mean 'check'?"* ]]
	run "$NUA" frobnicate
	[ "$status" -eq 2 ]
	[[ $output == *"see 'nua help'"* ]]
	run "$NUA" help chekc
	[ "$status" -eq 2 ]
	[[ $output == *"did you mean 'check'?"* ]]
}

@test "no command at all is a usage error" {
	run "$NUA"
	[ "$status" -eq 2 ]
	[[ $output == *"usage: nua"* ]]
}

@test "an unknown option is exit 2 with the usage" {
	run "$NUA" check --jsn
	[ "$status" -eq 2 ]
	[[ $output == *"unknown option '--jsn'"* ]]
	[[ $output == *"usage: nua check"* ]]
	run "$NUA" --bogus
	[ "$status" -eq 2 ]
}

@test "bash completion is generated from the table and completes" {
	run "$NUA" completion bash
	[ "$status" -eq 0 ]
	echo "$output" > "$BATS_TEST_TMPDIR/c.bash"
	bash -n "$BATS_TEST_TMPDIR/c.bash"
	# Drive the function as bash would for "nua ch<TAB>" and "nua check --<TAB>".
	run bash -c "source '$BATS_TEST_TMPDIR/c.bash'
		COMP_WORDS=(nua ch); COMP_CWORD=1; _nua; echo \"\${COMPREPLY[*]}\"
		COMP_WORDS=(nua check --); COMP_CWORD=2; _nua; echo \"\${COMPREPLY[*]}\""
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "check" ]
	[[ ${lines[1]} == *"--json"* ]]
	run "$NUA" completion zsh
	[ "$status" -eq 2 ]
}

@test "the samples pass nua check" {
	for app in "$NUA_TOP"/apps/*/; do
		run "$NUA" check "$app"
		echo "$app: $output"
		[ "$status" -eq 0 ]
	done
}

@test "nua help --json lists the commands as JSON" {
	run "$NUA" help --json
	[ "$status" -eq 0 ]
	echo "$output" | jq -e '.[] | select(.name == "check") | .usage' >/dev/null
	[ "$(echo "$output" | jq 'map(.name) | index("help") != null')" = true ]
}
