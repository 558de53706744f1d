#!/bin/sh
# lint.sh - house-rule checks that the compiler does not make
#
# Usage: sh tests/lint.sh        (make lint)
#
# 1. Banned functions: strcpy strcat sprintf vsprintf gets strtok atoi,
#    called as whole words (strbuf_cat, snprintf or fgets are fine) in
#    the C sources under lib/ daemons/ lda/ admin/. Comment lines are
#    skipped so a header may name what it avoids.
# 2. Formatting: clang-format --dry-run -Werror with the repository's
#    .clang-format on every tracked .c and .h file (`make format` fixes).
# Prints each failure; exits 1 if anything failed.

cd "$(dirname "$0")/.." || exit 1
status=0

# Banned functions.
banned='(^|[^[:alnum:]_])(strcpy|strcat|sprintf|vsprintf|gets|strtok|atoi)[[:space:]]*\('
dirs=
for d in lib daemons lda admin; do
	[ -d "$d" ] && dirs="$dirs $d"
done
if [ -n "$dirs" ]; then
	hits=$(find $dirs -type f \( -name '*.c' -o -name '*.h' \) -print |
		sort | xargs -r grep -HnE "$banned" |
		grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/\*|\*|//)')
	if [ -n "$hits" ]; then
		echo "lint: banned functions (use strbuf, snprintf, cfg_parse_int):"
		echo "$hits" | sed 's/^/  /'
		status=1
	fi
fi

# Formatting.
if command -v clang-format >/dev/null 2>&1; then
	files=$(git ls-files '*.c' '*.h' 2>/dev/null)
	bad=
	for f in $files; do
		[ -f "$f" ] || continue
		if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
			bad="$bad $f"
		fi
	done
	if [ -n "$bad" ]; then
		echo "lint: not clang-formatted (run make format, or clang-format -i FILE):"
		for f in $bad; do
			echo "  $f"
		done
		status=1
	fi
else
	echo "lint: clang-format not installed"
	status=1
fi

if [ "$status" -eq 0 ]; then
	echo "lint: ok"
fi
exit $status
