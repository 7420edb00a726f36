# Shared set-up for the end-to-end tests: the nua under test and a private
# NUA_ROOT per test.
NUA_TOP=${NUA_TOP:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
NUA_BUILD=${NUA_BUILD:-$NUA_TOP/build}
NUA=$NUA_BUILD/nua

nua_setup_root() {
	export NUA_ROOT=$BATS_TEST_TMPDIR/root
	export NUA_RUN=$BATS_TEST_TMPDIR/run
	mkdir -p "$NUA_ROOT" "$NUA_RUN"
}
