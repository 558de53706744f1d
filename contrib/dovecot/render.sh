#!/bin/sh
# render.sh - Dovecot configuration for one Postern instance
#
# usage: render.sh [-p POSTERN] [-c POSTERN_CONFIG_DIR] [-d DOVECOT_DIR] OUTDIR
#
# Fills in the @NAME@ placeholders of dovecot.conf.in,
# postern-sql.conf.ext.in and postern-dict-sql.conf.ext.in (next to
# this script) and writes dovecot.conf, postern-sql.conf.ext and
# postern-dict-sql.conf.ext into OUTDIR. DOVECOT_DIR (default
# /etc/dovecot) is where Dovecot will read them: dovecot.conf names the
# two .ext files by absolute path there. Render straight into
# /etc/dovecot, or into a scratch directory to compare first.
#
# The values come from the instance's postern.conf, read with
# `POSTERN -c POSTERN_CONFIG_DIR config show NAME` (POSTERN defaults to
# "postern" on PATH; without -c, postern's own default configuration
# directory). Each can be overridden from the environment:
#
#   MAIL_BASE       virtual_mailbox_base
#   VMAIL_USER      virtual_uid (an account name or a number)
#   VMAIL_GROUP     virtual_gid
#   VMAIL_UID, VMAIL_GID   their numbers (from getent)
#   MAIL_OWNER, MAIL_OWNER_GROUP   mail_owner and its group (LMTP socket)
#   SSL_CERT, SSL_KEY      smtpd_tls_cert_file, smtpd_tls_key_file
#   POSTMASTER      postmaster_address (LMTP's postmaster_address)
#   DB_HOST         PostgreSQL host(s) or unix socket directory; default
#                   embedded_database_directory/run. Required when the
#                   database is not embedded.
#   DB_NAME         database (postern)
#   DB_USER         role (postern_dovecot)
#   DEFAULT_PASS_SCHEME    scheme of hashes without {SCHEME} (CRYPT, as
#                   proxyd's default_password_scheme)
#   LISTEN          Dovecot's listen addresses ("*, ::")
#
# Exit status 0 when all three files were written, 1 otherwise.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
POSTERN=postern
CONF=""
DOVECOT_DIR=/etc/dovecot

usage() {
	echo "usage: $0 [-p POSTERN] [-c POSTERN_CONFIG_DIR]" \
	    "[-d DOVECOT_DIR] OUTDIR" >&2
	exit 1
}

while getopts p:c:d: opt; do
	case $opt in
	p) POSTERN=$OPTARG ;;
	c) CONF=$OPTARG ;;
	d) DOVECOT_DIR=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || usage
OUTDIR=$1

die() {
	echo "$0: $*" >&2
	exit 1
}

# The parameters below, read in one run of `postern config show`.
PARAMS="virtual_mailbox_base virtual_uid virtual_gid mail_owner
 smtpd_tls_cert_file smtpd_tls_key_file postmaster_address
 embedded_database_directory"
if [ -n "$CONF" ]; then
	# shellcheck disable=SC2086
	VALUES=$("$POSTERN" -c "$CONF" config show $PARAMS) ||
	    die "cannot read the parameters of $CONF"
else
	# shellcheck disable=SC2086
	VALUES=$("$POSTERN" config show $PARAMS) ||
	    die "cannot read postern's parameters"
fi

# param NAME - the value of a postern.conf parameter
param() {
	printf '%s\n' "$VALUES" | sed -n "s/^$1 = //p"
}

# account_field DB KEY FIELD - a field of getent passwd/group
account_field() {
	line=$(getent "$1" "$2") || die "no such $1 entry: $2"
	printf '%s\n' "$line" | cut -d: -f"$3"
}

: "${MAIL_BASE:=$(param virtual_mailbox_base)}"
: "${VMAIL_USER:=$(param virtual_uid)}"
: "${VMAIL_GROUP:=$(param virtual_gid)}"
: "${VMAIL_UID:=$(account_field passwd "$VMAIL_USER" 3)}"
: "${VMAIL_GID:=$(account_field group "$VMAIL_GROUP" 3)}"
: "${MAIL_OWNER:=$(param mail_owner)}"
: "${MAIL_OWNER_GROUP:=$(id -gn "$MAIL_OWNER")}"
: "${SSL_CERT:=$(param smtpd_tls_cert_file)}"
: "${SSL_KEY:=$(param smtpd_tls_key_file)}"
: "${POSTMASTER:=$(param postmaster_address)}"
if [ -z "${DB_HOST:-}" ]; then
	embedded=$(param embedded_database_directory)
	[ -n "$embedded" ] ||
	    die "the database is not embedded: set DB_HOST (and DB_NAME)"
	DB_HOST=$embedded/run
fi
: "${DB_NAME:=postern}"
: "${DB_USER:=postern_dovecot}"
: "${DEFAULT_PASS_SCHEME:=CRYPT}"
: "${LISTEN:=*, ::}"

case $MAIL_BASE in
/*) ;;
*) die "virtual_mailbox_base must be an absolute path: $MAIL_BASE" ;;
esac
# Values go into SQL string literals and Dovecot settings unquoted (a
# failed look-up above has left its value empty).
for v in "$MAIL_BASE" "$VMAIL_USER" "$VMAIL_GROUP" "$VMAIL_UID" \
    "$VMAIL_GID" "$MAIL_OWNER" "$MAIL_OWNER_GROUP" "$SSL_CERT" "$SSL_KEY" \
    "$POSTMASTER" "$DB_HOST" "$DB_NAME" "$DB_USER" "$DEFAULT_PASS_SCHEME" \
    "$DOVECOT_DIR"; do
	case $v in
	*[\'\ \"\\]* | "") die "unsupported value (quote, space or empty): '$v'" ;;
	esac
done

# sedval VALUE - VALUE escaped for the replacement side of s|||
sedval() {
	printf '%s\n' "$1" | sed -e 's/[\\|&]/\\&/g'
}

render() {
	sed -e "s|@MAIL_BASE@|$(sedval "$MAIL_BASE")|g" \
	    -e "s|@VMAIL_USER@|$(sedval "$VMAIL_USER")|g" \
	    -e "s|@VMAIL_GROUP@|$(sedval "$VMAIL_GROUP")|g" \
	    -e "s|@VMAIL_UID@|$(sedval "$VMAIL_UID")|g" \
	    -e "s|@VMAIL_GID@|$(sedval "$VMAIL_GID")|g" \
	    -e "s|@MAIL_OWNER@|$(sedval "$MAIL_OWNER")|g" \
	    -e "s|@MAIL_OWNER_GROUP@|$(sedval "$MAIL_OWNER_GROUP")|g" \
	    -e "s|@SSL_CERT@|$(sedval "$SSL_CERT")|g" \
	    -e "s|@SSL_KEY@|$(sedval "$SSL_KEY")|g" \
	    -e "s|@POSTMASTER@|$(sedval "$POSTMASTER")|g" \
	    -e "s|@DB_HOST@|$(sedval "$DB_HOST")|g" \
	    -e "s|@DB_NAME@|$(sedval "$DB_NAME")|g" \
	    -e "s|@DB_USER@|$(sedval "$DB_USER")|g" \
	    -e "s|@DEFAULT_PASS_SCHEME@|$(sedval "$DEFAULT_PASS_SCHEME")|g" \
	    -e "s|@LISTEN@|$(sedval "$LISTEN")|g" \
	    -e "s|@CONFDIR@|$(sedval "$DOVECOT_DIR")|g" \
	    "$HERE/$1.in" >"$OUTDIR/$1.tmp"
	if grep -n '@[A-Z_]*@' "$OUTDIR/$1.tmp" >&2; then
		rm -f "$OUTDIR/$1.tmp"
		die "$1: placeholders left unfilled"
	fi
	chmod "$2" "$OUTDIR/$1.tmp"
	# The auth and dict processes run as dovecot and must read them.
	if [ "$(id -u)" = 0 ] && getent group dovecot >/dev/null; then
		chgrp dovecot "$OUTDIR/$1.tmp"
	fi
	mv -f "$OUTDIR/$1.tmp" "$OUTDIR/$1"
}

mkdir -p "$OUTDIR"
render dovecot.conf 0644
render postern-sql.conf.ext 0640
render postern-dict-sql.conf.ext 0640
echo "wrote $OUTDIR/dovecot.conf, postern-sql.conf.ext," \
    "postern-dict-sql.conf.ext (for $DOVECOT_DIR)"
