#!/bin/sh
# run.sh BUILD - `make run`: a development instance in ./run, in the foreground.
#
# The first time, it makes the instance with
#   postern init ./run --embedded-db --smtp 127.0.0.1:2525 \
#       --submission 127.0.0.1:2587 --submissions 127.0.0.1:2465
# and afterwards reuses it. Then it runs `postern -c ./run start -f`: the
# log is copied to the terminal and Ctrl-C stops everything (the embedded
# PostgreSQL included).
#
# The service accounts (postern, vmail, ...) must be able to reach the
# instance directory. When the checkout lives below a directory that
# other users cannot search (typically /root, mode 0700), the instance is
# made in /var/tmp/postern-run-<uid> instead and ./run is a symbolic link
# to it. Remove both (rm -rf "$(readlink -f run)" run) to start afresh.
set -eu

BUILD=${1:-build}
POSTERN="$BUILD/postern"
if [ ! -x "$POSTERN" ]; then
	echo "run: $POSTERN is not built (run make first)" >&2
	exit 1
fi

# reachable DIR - true when every directory from / to DIR is searchable
# by other users (mode o+x), so the service accounts can get through.
reachable() {
	d=$1
	while :; do
		mode=$(stat -L -c %a "$d")
		case $mode in
		*[1357]) ;;
		*) return 1 ;;
		esac
		[ "$d" = / ] && return 0
		d=$(dirname "$d")
	done
}

if [ ! -e run ]; then
	here=$(pwd -P)
	if [ "$(id -u)" != 0 ] || reachable "$here"; then
		target=run
	else
		target=/var/tmp/postern-run-$(id -u)
		echo "run: $here is not reachable by the service accounts" \
			"(some parent directory is not o+x);"
		echo "run: making the instance in $target, linked from ./run"
	fi
	if [ ! -e "$target" ]; then
		"$POSTERN" init "$target" --embedded-db \
			--smtp 127.0.0.1:2525 --submission 127.0.0.1:2587 \
			--submissions 127.0.0.1:2465
	fi
	if [ "$target" != run ]; then
		ln -s "$target" run
	fi
fi

if "$POSTERN" -c ./run status >/dev/null 2>&1; then
	echo "run: the instance in ./run is already running;" \
		"stop it with: $POSTERN -c ./run stop" >&2
	exit 1
fi
echo "run: try: swaks --server 127.0.0.1:2525 --to postmaster@$(hostname)"
exec "$POSTERN" -c ./run start -f
