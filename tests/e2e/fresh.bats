#!/usr/bin/env bats
# A fresh machine suffices: a clean clone of this repository builds and
# passes its unit tests in a Nua image made from a bare Debian base (the
# builder's debootstrap minbase) that holds only what 'scripts/setup --list
# build' names. A build dependency missing from scripts/setup fails here,
# on any machine, including one that happens to have it installed.

load helpers
load server

# apt installs the build list from the Debian mirror, then nua builds.
file_setup() {
	export BATS_TEST_TIMEOUT=1500
}

@test "fresh machine: a clean clone builds and passes its unit tests with only setup's build list" {
	git -C "$NUA_TOP" rev-parse HEAD >/dev/null 2>&1 || skip "$NUA_TOP is not a git checkout: there is no clean clone to make"
	pkg=$BATS_TEST_TMPDIR/self
	mkdir -p "$pkg"
	git clone --quiet --no-local "$NUA_TOP" "$pkg/src"
	mapfile -t build_list < <("$NUA_TOP/scripts/setup" --list build)
	[ "${#build_list[@]}" -gt 3 ]
	{
		cat <<-'TOML'
		[metadata]
		id = "nua-fresh"
		version = "1"
		[build]
		project = "src"
		TOML
		# The machine's layer cache may hold this commit's build from an
		# earlier run: a nonce makes this step run here.
		printf 'build = "make -j$(nproc) && build/unit-tests # %s"\n' "$(date +%s%N)"
		printf 'packages = ['
		printf '"%s", ' "${build_list[@]}"
		printf ']\n'
		printf '[run]\nstart = "true"\n'
	} >"$pkg/nua-config.toml"
	run "$NUA" build "$pkg"
	echo "$output" | tail -40
	[ "$status" -eq 0 ]
	[[ $output == *"built nua-fresh:1-1"* ]]
	# The unit tests ran there and passed (their TAP is in the build log).
	log=$NUA_ROOT/logs/build/nua-fresh.log
	grep -q "^ok .* - state_open_keeps_the_locks_of_other_connections" "$log"
	[ "$(grep -c '^ok ' "$log")" -gt 100 ]
	[ "$(grep -c '^not ok' "$log")" = 0 ]
}

@test "fresh machine: make without a library names every missing module and scripts/setup, in one line" {
	run env PKG_CONFIG_LIBDIR=/nonexistent PKG_CONFIG_PATH= make -C "$NUA_TOP" -n BUILD="$BATS_TEST_TMPDIR/b"
	[ "$status" -eq 2 ]
	[[ $output == *"missing pkg-config modules: sqlite3 jansson libsodium libarchive libcurl libmicrohttpd libcrypto libargon2 libqrencode; 'scripts/setup' installs them"* ]]
	[ "$(grep -c 'missing pkg-config' <<<"$output")" = 1 ]
}
