#!/usr/bin/env bash
# The TOML 1.0 conformance suite through build/toml-decoder, as TAP: every
# valid case must decode to its JSON, every invalid one must be refused
# (exit 1, not a crash).
set -u
top=${NUA_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
build=${NUA_BUILD:-$top/build}
# The suite sits beside the project (../shared/toml-test), wherever the
# clone is; TOML_TEST_DIR overrides.
suite=
for d in ${TOML_TEST_DIR:+"$TOML_TEST_DIR"} "$top/../shared/toml-test" /work/shared/toml-test; do
	if [ -f "$d/tests/files-toml-1.0.0" ]; then suite=$d; break; fi
done
if [ -z "$suite" ]; then
	echo "1..1"
	echo "ok 1 - toml-test # SKIP the conformance suite is not on this machine (looked in ../shared/toml-test and /work/shared/toml-test; set TOML_TEST_DIR)"
	exit 0
fi
list=$suite/tests/files-toml-1.0.0
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
