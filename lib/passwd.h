/*
 * NAME
 *	passwd.h - password hash verification and generation
 * DESCRIPTION
 *	Stored hashes use Dovecot's scheme strings (INTEROP.md section 5):
 *	"{SCHEME}hash". {ARGON2ID} and {ARGON2I} are checked with
 *	libsodium's crypto_pwhash_str_verify(); {SHA512-CRYPT},
 *	{SHA256-CRYPT}, {BLF-CRYPT}, {MD5-CRYPT} and {CRYPT} with crypt_r().
 *	A hash without a prefix is read under the default scheme given by
 *	the caller (proxyd.conf default_password_scheme). New hashes are
 *	always {ARGON2ID} + crypto_pwhash_str() output, which Dovecot
 *	verifies natively.
 *
 *	All functions are thread-safe (proxyd runs them in worker threads).
 */
#ifndef POSTERN_PASSWD_H
#define POSTERN_PASSWD_H

#include "sys_defs.h"

struct strbuf;

#define PASSWD_OK 0       /* the password matches */
#define PASSWD_MISMATCH 1 /* it does not */
#define PASSWD_ERROR (-1) /* unknown scheme or malformed hash */

int passwd_verify(const char *stored, const char *password,
		  const char *default_scheme, const char **error_r);
int passwd_hash(const char *password, struct strbuf *out);
const char *passwd_dummy_hash(void);
bool passwd_scheme_known(const char *scheme);

#endif
