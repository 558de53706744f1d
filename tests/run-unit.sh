#!/bin/sh
# run-unit.sh - run Check unit-test binaries and total their results
#
# Usage: sh tests/run-unit.sh BIN...
#
# Each binary's output is shown as it is. The totals come from Check's
# "N%: Checks: N, Failures: F, Errors: E" lines; a binary that exits
# non-zero or dies without such a line counts as one more failure. The
# last line is "N passed, N failed"; the exit status is 1 on any failure.

passed=0
failed=0
if [ $# -eq 0 ]; then
	echo "run-unit.sh: no unit-test binaries given" >&2
fi
out=$(mktemp /tmp/postern-unit.XXXXXX) || exit 1
trap 'rm -f "$out"' EXIT INT TERM

for bin in "$@"; do
	echo "== $bin"
	if [ ! -x "$bin" ]; then
		echo "run-unit.sh: $bin: not found or not executable"
		failed=$((failed + 1))
		continue
	fi
	"$bin" >"$out" 2>&1
	rc=$?
	cat "$out"
	# Sum every summary line (one per suite runner).
	counts=$(sed -n 's/.*Checks: *\([0-9][0-9]*\), *Failures: *\([0-9][0-9]*\), *Errors: *\([0-9][0-9]*\).*/\1 \2 \3/p' "$out")
	if [ -z "$counts" ]; then
		echo "run-unit.sh: $bin: no Check summary (exit status $rc)"
		failed=$((failed + 1))
		continue
	fi
	bad_here=0
	while read -r n f e; do
		passed=$((passed + n - f - e))
		failed=$((failed + f + e))
		bad_here=$((bad_here + f + e))
	done <<EOT
$counts
EOT
	if [ "$rc" -ne 0 ] && [ "$bad_here" -eq 0 ]; then
		echo "run-unit.sh: $bin: exit status $rc"
		failed=$((failed + 1))
	fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
