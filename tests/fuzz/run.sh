#!/bin/sh
# run.sh - run every libFuzzer target for a fixed time
#
# Usage: sh tests/fuzz/run.sh SECONDS
#
# For each build/fuzz/fuzz_* (FUZZ_BUILD overrides the directory):
# first every regression input tests/fuzz/regress/NAME/* (inputs that
# once found a bug) is run once; then the target fuzzes for SECONDS on a
# temporary copy of its seed corpus tests/fuzz/corpus/NAME/ plus those
# inputs, so the committed files are never modified. A regression input
# that fails, a crash, leak, sanitizer report or timeout makes that
# target fail; a new input is kept under build/fuzz/artifacts/NAME/ and
# the end of the fuzzer's output is shown. The last line is "N passed,
# N failed"; the exit status is 1 on any failure.

seconds=${1:-}
case $seconds in
'' | *[!0-9]*)
	echo "usage: sh tests/fuzz/run.sh SECONDS" >&2
	exit 64
	;;
esac
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${FUZZ_BUILD:-$top/build/fuzz}
passed=0
failed=0
work=$(mktemp -d /tmp/postern-fuzz.XXXXXX) || exit 1
trap 'rm -rf "$work"' EXIT INT TERM

found=0
for bin in "$build"/fuzz_*; do
	[ -x "$bin" ] && [ -f "$bin" ] || continue
	found=1
	name=$(basename "$bin")
	corpus=$work/$name/corpus
	artifacts=$build/artifacts/$name
	mkdir -p "$corpus" "$artifacts"
	if [ -d "$top/tests/fuzz/corpus/$name" ]; then
		cp -R "$top/tests/fuzz/corpus/$name/." "$corpus/"
	fi
	log=$work/$name/log
	echo "== $name: ${seconds}s"
	regress=$top/tests/fuzz/regress/$name
	if [ -n "$(ls -A "$regress" 2>/dev/null)" ]; then
		if ! "$bin" -timeout=30 -rss_limit_mb=2048 "$regress"/* \
			>"$log" 2>&1; then
			failed=$((failed + 1))
			tail -n 40 "$log"
			echo "FAILED: $name: a regression input in $regress/"
			continue
		fi
		echo "   regression inputs: $(ls -A "$regress" | wc -l) passed"
		cp "$regress"/* "$corpus/"
	fi
	"$bin" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$artifacts/" \
		"$corpus" >"$log" 2>&1
	rc=$?
	if [ "$rc" -eq 0 ]; then
		passed=$((passed + 1))
		grep -E '^stat::number_of_executed_units|^Done ' "$log" |
			sed 's/^/   /'
	else
		failed=$((failed + 1))
		tail -n 40 "$log"
		echo "FAILED: $name (exit status $rc); inputs in $artifacts/"
	fi
done
if [ "$found" -eq 0 ]; then
	echo "run.sh: no fuzz targets in $build (run make fuzz)"
	failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
