#!/usr/bin/env bash
# The TOML 1.0 conformance suite through build/toml-decoder, as TAP: every
# valid case must decode to its JSON, every invalid one must be refused
# (exit 1, not a crash).
set -u
top=${NUA_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
build=${NUA_BUILD:-$top/build}
suite=${TOML_TEST_DIR:-$top/../shared/toml-test}
list=$suite/tests/files-toml-1.0.0
if [ ! -f "$list" ]; then
	echo "1..0 # SKIP toml-test suite not found at $suite"
	exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mapfile -t cases < <(grep -E '^(valid|invalid)/.*\.toml$' "$list")
echo "1..${#cases[@]}"
i=0 failed=0
for c in "${cases[@]}"; do
	i=$((i + 1))
	name=${c%.toml}
	"$build/toml-decoder" <"$suite/tests/$c" >"$work/out.json" 2>"$work/err"
	rc=$?
	case $c in
	valid/*)
		if [ $rc -ne 0 ]; then
			echo "not ok $i - $name"; sed 's/^/# /' "$work/err"; failed=$((failed + 1))
		elif ! "$build/toml-json-eq" "$suite/tests/$name.json" "$work/out.json" 2>"$work/diff"; then
			echo "not ok $i - $name"; sed 's/^/# /' "$work/diff"; failed=$((failed + 1))
		else
			echo "ok $i - $name"
		fi ;;
	invalid/*)
		if [ $rc -eq 1 ]; then
			echo "ok $i - $name"
		else
			echo "not ok $i - $name (exit $rc)"; sed 's/^/# /' "$work/err" | head -5
			failed=$((failed + 1))
		fi ;;
	esac
done
[ $failed -eq 0 ]
