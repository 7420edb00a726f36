# The hooks of a test file whose tests share one server (load helpers, then
# this): the server starts in setup_file (then the file's own file_setup,
# when it has one, runs), every test's teardown checks it kept nothing of
# what it no longer knows and stops whatever the test started itself, and
# teardown_file stops the server whole. Without root or the runtime's
# packages, every test skips saying what is missing.
setup_file() {
	nua_require_runtime || return 0
	nua_setup_server
	if declare -F file_setup >/dev/null; then
		file_setup
	fi
}

teardown_file() {
	nua_teardown_server
}

setup() {
	[ -z "${NUA_SKIP:-}" ] || skip "$NUA_SKIP"
}

teardown() {
	nua_teardown_test
}
