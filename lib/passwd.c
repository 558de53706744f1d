/*
 * NAME
 *	passwd - password hash verification and generation
 * SYNOPSIS
 *	#include "passwd.h"
 *
 *	int passwd_verify(const char *stored, const char *password,
 *			  const char *default_scheme, const char **error_r);
 *	int passwd_hash(const char *password, struct strbuf *out);
 *	const char *passwd_dummy_hash(void);
 *	bool passwd_scheme_known(const char *scheme);
 * DESCRIPTION
 *	passwd_verify() checks a password against a stored hash in
 *	Dovecot's "{SCHEME}hash" form. ARGON2ID and ARGON2I are exactly
 *	what Dovecot does: crypto_pwhash_str_verify() on the string after
 *	the prefix. The crypt family goes through crypt_r() with a
 *	per-call work area, and each scheme insists on its own hash
 *	prefix ($6$, $5$, $2a$/$2b$/$2y$, $1$) so that a hash stored under
 *	the wrong label is reported rather than silently accepted. A hash
 *	without "{...}" is read under default_scheme (NULL: CRYPT). CRYPT
 *	also accepts an "$argon2..." string, which crypt(3) cannot check,
 *	through libsodium.
 *
 *	passwd_hash() writes "{ARGON2ID}" + crypto_pwhash_str() output
 *	with t=3 (Dovecot's minimum) and 64 MiB of memory.
 *
 *	passwd_dummy_hash() returns an ARGON2ID hash of a random password
 *	made with the same parameters, made once: verifying an unknown
 *	user against it costs what a wrong password costs.
 * DIAGNOSTICS
 *	passwd_verify() returns PASSWD_OK, PASSWD_MISMATCH, or
 *	PASSWD_ERROR with *error_r naming the fault (unknown scheme,
 *	malformed hash). passwd_hash() returns 0, or -1 when libsodium
 *	cannot allocate the memory the hash needs.
 * SEE ALSO
 *	INTEROP.md section 5, crypt(5), crypto_pwhash_str(3).
 */
#include "sys_defs.h"

#include <crypt.h>
#include <pthread.h>
#include <sodium.h>

#include "log.h"
#include "passwd.h"
#include "strbuf.h"
#include "xalloc.h"

#define PASSWD_OPSLIMIT 3
#define PASSWD_MEMLIMIT crypto_pwhash_MEMLIMIT_INTERACTIVE
#define PASSWD_SCHEME_MAX 32

enum passwd_kind {
	PASSWD_KIND_SODIUM,
	PASSWD_KIND_CRYPT,
};

struct passwd_scheme {
	const char *name;
	enum passwd_kind kind;
	const char *prefixes[3]; /* accepted hash prefixes; none = any */
};

static const struct passwd_scheme passwd_schemes[] = {
    {"ARGON2ID", PASSWD_KIND_SODIUM, {"$argon2id$"}},
    {"ARGON2I", PASSWD_KIND_SODIUM, {"$argon2i$"}},
    {"SHA512-CRYPT", PASSWD_KIND_CRYPT, {"$6$"}},
    {"SHA256-CRYPT", PASSWD_KIND_CRYPT, {"$5$"}},
    {"BLF-CRYPT", PASSWD_KIND_CRYPT, {"$2y$", "$2b$", "$2a$"}},
    {"MD5-CRYPT", PASSWD_KIND_CRYPT, {"$1$"}},
    {"CRYPT", PASSWD_KIND_CRYPT, {NULL}},
};

static pthread_once_t passwd_once = PTHREAD_ONCE_INIT;
static char passwd_dummy[crypto_pwhash_STRBYTES];

/* passwd_find - the scheme of a name (case-insensitive), or NULL */
static const struct passwd_scheme *passwd_find(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(passwd_schemes); i++) {
		if (strlen(passwd_schemes[i].name) == len &&
		    strncasecmp(passwd_schemes[i].name, name, len) == 0)
			return &passwd_schemes[i];
	}
	return NULL;
}

/* passwd_scheme_known - whether a scheme name is supported */
bool passwd_scheme_known(const char *scheme)
{
	return passwd_find(scheme, strlen(scheme)) != NULL;
}

/* passwd_prefix_ok - whether a hash carries a prefix its scheme allows */
static bool passwd_prefix_ok(const struct passwd_scheme *sc, const char *hash)
{
	size_t i;

	if (sc->prefixes[0] == NULL)
		return true;
	for (i = 0; i < ARRAY_LEN(sc->prefixes) && sc->prefixes[i]; i++) {
		if (strncmp(hash, sc->prefixes[i], strlen(sc->prefixes[i])) ==
		    0)
			return true;
	}
	return false;
}

/* passwd_count - how many times ch occurs in s */
static size_t passwd_count(const char *s, int ch)
{
	size_t n = 0;

	while ((s = strchr(s, ch)) != NULL) {
		n++;
		s++;
	}
	return n;
}

/* passwd_verify_sodium - crypto_pwhash_str_verify, as Dovecot does */
static int passwd_verify_sodium(const char *hash, const char *password,
				const char **error_r)
{
	if (strlen(hash) >= crypto_pwhash_STRBYTES) {
		*error_r = "malformed argon2 hash";
		return PASSWD_ERROR;
	}
	if (crypto_pwhash_str_verify(hash, password, strlen(password)) == 0)
		return PASSWD_OK;
	/* libsodium says -1 for both a mismatch and a hash it cannot
	 * parse; tell them apart by the shape of the string. */
	if (strncmp(hash, "$argon2", 7) != 0 || strstr(hash, "$v=") == NULL ||
	    strstr(hash, ",t=") == NULL || passwd_count(hash, '$') != 5 ||
	    hash[strlen(hash) - 1] == '$') {
		*error_r = "malformed argon2 hash";
		return PASSWD_ERROR;
	}
	return PASSWD_MISMATCH;
}

/* passwd_verify_crypt - crypt_r with a private work area */
static int passwd_verify_crypt(const char *hash, const char *password,
			       const char **error_r)
{
	struct crypt_data *data;
	const char *got;
	size_t hlen = strlen(hash);
	int ret;

	if (hlen < 2 || hlen > CRYPT_OUTPUT_SIZE) {
		*error_r = "malformed crypt hash";
		return PASSWD_ERROR;
	}
	data = xcalloc(1, sizeof(*data));
	got = crypt_r(password, hash, data);
	if (got == NULL || got[0] == '*' || strlen(got) != hlen) {
		*error_r = "malformed crypt hash";
		ret = PASSWD_ERROR;
	} else {
		ret = sodium_memcmp(got, hash, hlen) == 0 ? PASSWD_OK
							  : PASSWD_MISMATCH;
	}
	sodium_memzero(data, sizeof(*data));
	free(data);
	return ret;
}

/* passwd_sodium_init - make libsodium ready (once, thread-safe) */
static void passwd_sodium_init(void)
{
	if (sodium_init() < 0)
		log_fatal("libsodium initialisation failed");
}

/* passwd_verify - check a password against a stored hash */
int passwd_verify(const char *stored, const char *password,
		  const char *default_scheme, const char **error_r)
{
	const struct passwd_scheme *sc;
	const char *hash = stored;
	const char *end;

	passwd_sodium_init();
	if (stored[0] == '{' && (end = strchr(stored, '}')) != NULL &&
	    end - stored - 1 <= PASSWD_SCHEME_MAX) {
		sc = passwd_find(stored + 1, (size_t)(end - stored - 1));
		hash = end + 1;
	} else {
		if (default_scheme == NULL || *default_scheme == '\0')
			default_scheme = "CRYPT";
		sc = passwd_find(default_scheme, strlen(default_scheme));
	}
	if (sc == NULL) {
		*error_r = "unknown password scheme";
		return PASSWD_ERROR;
	}
	if (*hash == '\0') {
		*error_r = "empty password hash";
		return PASSWD_ERROR;
	}
	if (!passwd_prefix_ok(sc, hash)) {
		*error_r = "hash does not match its scheme";
		return PASSWD_ERROR;
	}
	if (sc->kind == PASSWD_KIND_SODIUM || strncmp(hash, "$argon2", 7) == 0)
		return passwd_verify_sodium(hash, password, error_r);
	return passwd_verify_crypt(hash, password, error_r);
}

/* passwd_hash - a new {ARGON2ID} hash of a password */
int passwd_hash(const char *password, struct strbuf *out)
{
	char hash[crypto_pwhash_STRBYTES];

	passwd_sodium_init();
	if (crypto_pwhash_str(hash, password, strlen(password), PASSWD_OPSLIMIT,
			      PASSWD_MEMLIMIT) != 0)
		return -1;
	strbuf_copy(out, "{ARGON2ID}");
	strbuf_cat(out, hash);
	return 0;
}

/* passwd_make_dummy - hash a random password once */
static void passwd_make_dummy(void)
{
	unsigned char rnd[24];
	char pw[2 * sizeof(rnd) + 1];

	passwd_sodium_init();
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(pw, sizeof(pw), rnd, sizeof(rnd));
	if (crypto_pwhash_str(passwd_dummy, pw, strlen(pw), PASSWD_OPSLIMIT,
			      PASSWD_MEMLIMIT) != 0)
		log_fatal("cannot make the dummy password hash: out of memory");
	sodium_memzero(pw, sizeof(pw));
}

/* passwd_dummy_hash - a valid hash nobody knows the password of */
const char *passwd_dummy_hash(void)
{
	pthread_once(&passwd_once, passwd_make_dummy);
	return passwd_dummy;
}
