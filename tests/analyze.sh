#!/bin/sh
# analyze.sh - static analysis: the clang analyzer and cppcheck
#
# Usage: sh tests/analyze.sh OUTDIR CFLAGS...   (make analyze)
#
# Every .c file under lib/ daemons/ lda/ admin/ man/ tests/ goes through
# 1. the clang static analyzer (clang --analyze, one file per process,
#    ANALYZE_JOBS at a time, default 2) with CFLAGS: the build's -std, -D
#    and -I flags, plus CHECK_CFLAGS (from the environment) for the unit
#    tests; the checkers are in CLANG_CHECKERS below;
# 2. cppcheck, once over all of them, with the build's -D flags, -I lib,
#    tests/cppcheck.supp (every entry explains itself) and inline
#    "cppcheck-suppress ID" comments (each with a reason beside it).
# A finding is printed with the analyzer's path to it (file:line: notes)
# and counted; so is a file clang cannot compile. The last line is
# "analyze: N files, F findings (clang C, cppcheck P)"; the exit status is
# 1 when F > 0 or a tool is missing. OUTDIR keeps the logs of the run and
# cppcheck's cache.

cd "$(dirname "$0")/.." || exit 1
if [ $# -lt 1 ]; then
	echo "usage: sh tests/analyze.sh OUTDIR CFLAGS..." >&2
	exit 2
fi
out=$1
shift
jobs=${ANALYZE_JOBS:-2}
CLANG=${CLANG:-clang}
CPPCHECK=${CPPCHECK:-cppcheck}

# The default set (core, unix, deadcode, parts of security and
# nullability) plus the rest of security.insecureAPI except the Annex K
# advice against memcpy/snprintf, the float loop counter, va_list misuse
# and the Unix API argument checks.
CLANG_CHECKERS=core,unix,deadcode,nullability,valist,security.FloatLoopCounter,security.insecureAPI.UncheckedReturn,security.insecureAPI.getpw,security.insecureAPI.gets,security.insecureAPI.mktemp,security.insecureAPI.mkstemp,security.insecureAPI.vfork,security.insecureAPI.rand,security.insecureAPI.strcpy,security.insecureAPI.bcmp,security.insecureAPI.bcopy,security.insecureAPI.bzero,optin.portability.UnixAPI

for tool in "$CLANG" "$CPPCHECK"; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "analyze: $tool not installed (make deps)" >&2
		echo "analyze: not run"
		exit 1
	fi
done

files=$(find lib daemons lda admin man tests -name '*.c' -type f 2>/dev/null |
	LC_ALL=C sort)
nfiles=$(echo "$files" | wc -l)
rm -rf "$out/clang"
mkdir -p "$out/clang" "$out/cppcheck-cache" || exit 1

# 1. clang --analyze, one log per file: OUTDIR/clang/<path>.log
export CLANG CLANG_CHECKERS CHECK_CFLAGS out
echo "$files" | xargs -P "$jobs" -I {} sh -c '
	f=$1
	shift
	log="$out/clang/$(echo "$f" | tr / _).log"
	extra=
	case $f in tests/unit/*) extra=$CHECK_CFLAGS ;; esac
	if ! "$CLANG" --analyze -o /dev/null "$@" $extra \
		-Xanalyzer -analyzer-output=text \
		-Xanalyzer -analyzer-checker="$CLANG_CHECKERS" \
		"$f" >"$log" 2>&1; then
		echo "$f: error: clang --analyze failed" >>"$log"
	fi
' analyze-one {} "$@"
clang_found=0
for log in "$out"/clang/*.log; do
	[ -s "$log" ] || continue
	cat "$log"
	n=$(grep -cE '^[^ :]+:[0-9]+(:[0-9]+)?: (warning|error)' "$log")
	clang_found=$((clang_found + n))
done

# 2. cppcheck over the whole tree: the build's -D flags, no system headers.
defs=
for flag in "$@"; do
	case $flag in -D*) defs="$defs $flag" ;; esac
done
# shellcheck disable=SC2086 # $defs and $files are lists
"$CPPCHECK" -q -j "$jobs" --std=c11 --platform=unix64 \
	--library=posix --library=gnu --library=openssl \
	--enable=warning,style,performance,portability,information \
	--error-exitcode=1 --inline-suppr --suppressions-list=tests/cppcheck.supp \
	--cppcheck-build-dir="$out/cppcheck-cache" \
	-I lib $defs \
	--template='{file}:{line}:{column}: {severity}: {message} [{id}]' \
	--template-location='{file}:{line}:{column}: note: {info}' \
	$files 2>"$out/cppcheck.log"
cpp_status=$?
cat "$out/cppcheck.log"
cpp_found=$(grep -cE '^[^ :]+:[0-9]+:[0-9]+: [a-z]+: ' "$out/cppcheck.log" |
	tr -d ' ')
cpp_found=$((cpp_found - $(grep -cE '^[^ :]+:[0-9]+:[0-9]+: note: ' \
	"$out/cppcheck.log")))
if [ "$cpp_status" -ne 0 ] && [ "$cpp_found" -eq 0 ]; then
	cpp_found=1
	echo "analyze: cppcheck exited with status $cpp_status"
fi

total=$((clang_found + cpp_found))
echo "analyze: $nfiles files, $total findings (clang $clang_found, cppcheck $cpp_found)"
[ "$total" -eq 0 ]
