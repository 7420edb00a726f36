#!/usr/bin/env bats
# The CLI's paths leak nothing and touch no uninitialised memory (valgrind).

load helpers

setup() {
	nua_setup_root
	if nm "$NUA" 2>/dev/null | grep -q __asan_init; then
		skip "nua is built with AddressSanitizer, whose LeakSanitizer checks leaks in this run"
	fi
}

teardown() { nua_teardown_test; }

vg() {
	valgrind -q --leak-check=full --show-leak-kinds=definite,indirect,possible \
		--errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99 "$NUA" "$@"
}

@test "valgrind: help, version, completion, an unknown command" {
	run vg help
	[ "$status" -eq 0 ]
	run vg help check
	[ "$status" -eq 0 ]
	run vg --version
	[ "$status" -eq 0 ]
	run vg completion bash
	[ "$status" -eq 0 ]
	run vg chek
	[ "$status" -eq 2 ]
}

@test "valgrind: nua check on good and bad configs" {
	run vg check "$NUA_TOP/apps/hello-python"
	[ "$status" -eq 0 ]
	run vg check --json "$NUA_TOP/apps/hello-python"
	[ "$status" -eq 0 ]
	for f in "$NUA_TOP"/tests/config/bad/*.toml; do
		run vg check "$f"
		echo "$f: $output"
		[ "$status" -eq 2 ]
	done
}

@test "valgrind: the client's paths against a daemon, and without one" {
	run vg ls
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot reach the nua daemon"* ]]
	nua_start_daemon
	run vg ls --json
	[ "$status" -eq 0 ]
	run vg images
	[ "$status" -eq 0 ]
	run vg status nope
	[ "$status" -eq 2 ]
	run vg events --json
	[ "$status" -eq 0 ]
	run vg stats
	[ "$status" -eq 0 ]
}
