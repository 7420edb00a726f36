#!/usr/bin/env bash
# nua check against malformed and valid nua-config.toml files, as TAP.
#   bad/NAME.toml   must exit 2 and print exactly bad/NAME.expected on stderr
#   good/NAME.toml  must exit 0; with good/NAME.json, --json must match it
#   apps/*/         the samples must pass
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=${NUA_TOP:-$(cd "$here/../.." && pwd)}
nua=${NUA_BUILD:-$top/build}/nua
cd "$here"
bad=(bad/*.toml) good=(good/*.toml) apps=("$top"/apps/*/)
echo "1..$(( ${#bad[@]} + ${#good[@]} + ${#apps[@]} ))"
i=0 failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in "${bad[@]}"; do
	i=$((i + 1))
	"$nua" check "$f" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ $rc -ne 2 ]; then
		echo "not ok $i - $f exits $rc, expected 2"; failed=$((failed + 1))
	elif ! diff -u "${f%.toml}.expected" "$tmp/err" >"$tmp/diff"; then
		echo "not ok $i - $f"; sed 's/^/# /' "$tmp/diff"; failed=$((failed + 1))
	elif [ -s "$tmp/out" ]; then
		echo "not ok $i - $f printed on stdout"; failed=$((failed + 1))
	else
		echo "ok $i - $f"
	fi
done
for f in "${good[@]}"; do
	i=$((i + 1))
	if ! "$nua" check "$f" >"$tmp/out" 2>"$tmp/err"; then
		echo "not ok $i - $f"; sed 's/^/# /' "$tmp/err"; failed=$((failed + 1)); continue
	fi
	json=${f%.toml}.json
	if [ -f "$json" ]; then
		"$nua" check --json "$f" 2>/dev/null | jq -S . >"$tmp/json"
		if ! diff -u "$json" "$tmp/json" >"$tmp/diff"; then
			echo "not ok $i - $f --json"; sed 's/^/# /' "$tmp/diff"; failed=$((failed + 1)); continue
		fi
	fi
	echo "ok $i - $f: $(cat "$tmp/out")"
done
for d in "${apps[@]}"; do
	i=$((i + 1))
	if "$nua" check "$d" >"$tmp/out" 2>"$tmp/err"; then
		echo "ok $i - sample $(basename "$d"): $(cat "$tmp/out")"
	else
		echo "not ok $i - sample $(basename "$d")"; sed 's/^/# /' "$tmp/err"; failed=$((failed + 1))
	fi
done
[ $failed -eq 0 ]
