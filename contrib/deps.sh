#!/bin/sh
# deps.sh - install the Debian packages Postern's build and tests need.
#
# Installs only what is missing, non-interactively, and never starts the
# packages' own services (PostgreSQL, Dovecot, fail2ban): a policy-rc.d
# that refuses every start is in place for the duration of the install.
# Tests start private servers on loopback instead.
set -eu

PACKAGES="build-essential pkg-config clang libclang-rt-14-dev
 libssl-dev libpq-dev libsodium-dev libsasl2-dev libsasl2-modules
 check libjansson-dev libcrypt-dev
 postgresql postgresql-client openssl python3 swaks strace
 dovecot-core dovecot-imapd dovecot-pop3d dovecot-pgsql dovecot-lmtpd
 libnet-ssleay-perl fail2ban pflogsumm logrotate apparmor systemd
 clang-tools-14 cppcheck e2fsprogs groff-base man-db"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
	    grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
if [ -z "$missing" ]; then
	echo "deps: all packages present"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages:$missing (run 'make deps' as root)" >&2
	exit 1
fi

policy=/usr/sbin/policy-rc.d
had_policy=no
if [ -e "$policy" ]; then
	had_policy=yes
	cp -p "$policy" "$policy.postern-save"
fi
restore_policy() {
	if [ "$had_policy" = yes ]; then
		mv -f "$policy.postern-save" "$policy"
	else
		rm -f "$policy"
	fi
}
trap restore_policy EXIT
printf '#!/bin/sh\nexit 101\n' >"$policy"
chmod 0755 "$policy"

echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
if [ ! -d /var/lib/apt/lists ] || [ -z "$(ls /var/lib/apt/lists 2>/dev/null | grep -v lock)" ] ||
    ! apt-get install -y -q --no-install-recommends $missing; then
	apt-get update -q
	apt-get install -y -q --no-install-recommends $missing
fi
