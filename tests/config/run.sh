#!/usr/bin/env bash
# nua check against malformed and valid nua-config.toml files, as TAP. Runs
# from tests/config so that the file names printed are relative (bad/x.toml).
#   bad/NAME.toml   must exit 2, print exactly bad/NAME.expected on stderr
#                   and nothing on stdout
#   good/NAME.toml  must exit 0 with a one-line summary; with good/NAME.json,
#                   --json must give that (compared with jq -S); stderr must
#                   be good/NAME.stderr (the [docker] warnings), else empty
#   apps/*/         the project's samples must pass
#   a few cases of the command itself: missing files, directories, usage
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=${NUA_TOP:-$(cd "$here/../.." && pwd)}
nua=${NUA_BUILD:-$top/build}/nua
cd "$here" || exit 1
bad=(bad/*.toml) good=(good/*.toml) apps=("$top"/apps/*/)
ncmd=8
echo "1..$((${#bad[@]} + ${#good[@]} + ${#apps[@]} + ncmd))"
i=0 failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ok() { echo "ok $i - $*"; }
not_ok() {
	echo "not ok $i - $1"
	shift
	for f in "$@"; do sed 's/^/# /' "$f"; done
	failed=$((failed + 1))
}

for f in "${bad[@]}"; do
	i=$((i + 1))
	"$nua" check "$f" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ $rc -ne 2 ]; then
		not_ok "$f exits $rc, expected 2" "$tmp/err"
	elif ! diff -u "${f%.toml}.expected" "$tmp/err" >"$tmp/diff"; then
		not_ok "$f" "$tmp/diff"
	elif [ -s "$tmp/out" ]; then
		not_ok "$f printed on stdout" "$tmp/out"
	else
		ok "$f"
	fi
done

for f in "${good[@]}"; do
	i=$((i + 1))
	base=${f%.toml}
	if ! "$nua" check "$f" >"$tmp/out" 2>"$tmp/err"; then
		not_ok "$f" "$tmp/err"
		continue
	fi
	if [ "$(wc -l <"$tmp/out")" -ne 1 ]; then
		not_ok "$f: expected one line of summary" "$tmp/out"
		continue
	fi
	[ -f "$base.stderr" ] || : >"$tmp/empty"
	if ! diff -u "$([ -f "$base.stderr" ] && echo "$base.stderr" || echo "$tmp/empty")" \
		"$tmp/err" >"$tmp/diff"; then
		not_ok "$f: stderr" "$tmp/diff"
		continue
	fi
	if ! "$nua" check --json "$f" 2>/dev/null | jq -S . >"$tmp/json"; then
		not_ok "$f --json is not JSON"
		continue
	fi
	if [ -f "$base.json" ] && ! diff -u "$base.json" "$tmp/json" >"$tmp/diff"; then
		not_ok "$f --json" "$tmp/diff"
		continue
	fi
	ok "$f: $(cat "$tmp/out")"
done

for d in "${apps[@]}"; do
	i=$((i + 1))
	if "$nua" check "$d" >"$tmp/out" 2>"$tmp/err" && [ ! -s "$tmp/err" ]; then
		ok "sample $(basename "$d"): $(cat "$tmp/out")"
	else
		not_ok "sample $(basename "$d")" "$tmp/err"
	fi
done

# expect_run NAME RC STDERR-LINE ARGS...: exit status and exact stderr
expect_run() {
	local name=$1 want_rc=$2 want_err=$3
	shift 3
	i=$((i + 1))
	"$nua" "$@" >"$tmp/out" 2>"$tmp/err"
	local rc=$?
	if [ $rc -ne "$want_rc" ]; then
		not_ok "$name: exit $rc, expected $want_rc" "$tmp/err"
	elif [ -n "$want_err" ] && [ "$(cat "$tmp/err")" != "$want_err" ]; then
		echo "$want_err" >"$tmp/want"
		diff -u "$tmp/want" "$tmp/err" >"$tmp/diff"
		not_ok "$name" "$tmp/diff"
	else
		ok "$name"
	fi
}

expect_run "missing file" 2 \
	"error: cannot read 'bad/no-such-file.toml': No such file or directory" \
	check bad/no-such-file.toml
expect_run "directory without nua-config.toml" 2 \
	"error: cannot read 'bad/nua-config.toml': No such file or directory" \
	check bad
expect_run "directory holding nua/nua-config.toml (the Python Nua's layout)" 0 "" \
	check dirs/python-layout
expect_run "--json of a bad file prints the problems" 2 "" check --json bad/missing-id.toml
expect_run "two paths" 2 "" check good/minimal.toml good/ports.toml
expect_run "unknown option" 2 "" check --yaml good/minimal.toml

i=$((i + 1))
(cd "$top/apps/hello-static" && "$nua" check) >"$tmp/out" 2>"$tmp/err"
if [ $? -eq 0 ] && grep -q '^hello-static:' "$tmp/out"; then
	ok "the current directory by default"
else
	not_ok "the current directory by default" "$tmp/out" "$tmp/err"
fi

i=$((i + 1))
"$nua" check --json good/minimal.toml >"$tmp/out" 2>"$tmp/err"
if [ "$(jq -r .image "$tmp/out")" = "tiny:0.1-1" ] && [ "$(head -c1 "$tmp/out")" = "{" ]; then
	ok "--json prints only the JSON on stdout"
else
	not_ok "--json prints only the JSON on stdout" "$tmp/out" "$tmp/err"
fi

[ $failed -eq 0 ]
