#!/usr/bin/env bash
# Build every libFuzzer harness and fuzz each briefly from its seed corpus,
# so that a crash a seed or a short run finds fails the suite. The long runs
# are 'make fuzz' (FUZZ_SECONDS each). Prints TAP.
set -u
top=${NUA_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
secs=${FUZZ_SMOKE_SECONDS:-10}
cd "$top"
harnesses=(fuzz/*.c)
if ! command -v clang >/dev/null; then
	echo "1..0 # SKIP clang is not installed (scripts/setup installs it)"
	exit 0
fi
echo "1..${#harnesses[@]}"
if ! make -s fuzz-build >"${NUA_BUILD:-build}/fuzz-build.log" 2>&1; then
	i=0
	for h in "${harnesses[@]}"; do
		i=$((i + 1)); echo "not ok $i - $(basename "$h" .c) # build failed"
	done
	sed 's/^/# /' "${NUA_BUILD:-build}/fuzz-build.log" | tail -30
	exit 1
fi
i=0 rc=0
for h in "${harnesses[@]}"; do
	i=$((i + 1))
	name=$(basename "$h" .c)
	work=$(mktemp -d)
	dict=()
	[ -f "fuzz/$name.dict" ] && dict=(-dict="fuzz/$name.dict")
	if build/fuzz/"$name" -max_total_time="$secs" -print_final_stats=1 "${dict[@]}" "$work" "fuzz/corpus/$name" \
		>"$work/log" 2>&1; then
		echo "ok $i - fuzz $name ${secs}s: $(grep -o 'stat::number_of_executed_units: [0-9]*' "$work/log" | grep -o '[0-9]*$' || echo '?') runs"
	else
		echo "not ok $i - fuzz $name"
		grep -A30 -E 'ERROR|runtime error|SUMMARY' "$work/log" | head -40 | sed 's/^/# /'
		rc=1
	fi
	rm -rf "$work"
done
exit $rc
