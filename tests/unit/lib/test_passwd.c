/*
 * NAME
 *	test_passwd - unit tests for lib/passwd.c
 * SYNOPSIS
 *	build/unit/lib/test_passwd
 * DESCRIPTION
 *	Every scheme with a right password, a wrong one and malformed
 *	hashes. The vectors were made by Dovecot's `doveadm pw -s SCHEME`
 *	(password "test123") plus the PostfixAdmin ARGON2ID vector of
 *	INTEROP.md section 5 and a traditional DES crypt(3) hash. Then
 *	passwd_hash() output round-trips, and the dummy hash verifies
 *	nothing.
 * DIAGNOSTICS
 *	Check's report; exit status 1 when a test fails.
 */
#include "sys_defs.h"

#include <check.h>

#include "log.h"
#include "passwd.h"
#include "strbuf.h"

struct passwd_case {
	const char *stored;
	const char *password;
	const char *default_scheme;
	int want;
};

static const struct passwd_case passwd_cases[] = {
    /* ARGON2ID: PostfixAdmin's vector and doveadm's. */
    {"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$eaXP376O9/VxleLw9OQIxg$"
     "jOoDyECeRRV4eta3eSN/j0RdBgqaA1VBGAA/pbviI20",
     "test123", NULL, PASSWD_OK},
    {"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$1mowk+8+X/dQBj5PXb7KSg$"
     "qfYcFskV1SOh5gS10FYF/FanYKdFGvk4vXJjiKHHm5M",
     "test123", NULL, PASSWD_OK},
    {"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$1mowk+8+X/dQBj5PXb7KSg$"
     "qfYcFskV1SOh5gS10FYF/FanYKdFGvk4vXJjiKHHm5M",
     "test124", NULL, PASSWD_MISMATCH},
    {"{argon2id}$argon2id$v=19$m=65536,t=3,p=1$1mowk+8+X/dQBj5PXb7KSg$"
     "qfYcFskV1SOh5gS10FYF/FanYKdFGvk4vXJjiKHHm5M",
     "test123", NULL, PASSWD_OK},
    {"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$1mowk+8+X/dQBj5PXb7KSg",
     "test123", NULL, PASSWD_ERROR},
    {"{ARGON2ID}$argon2i$v=19$m=32768,t=4,p=1$OCnpuWnJl2whEp1+4zTM5Q$"
     "d4wUINesoiqMO3oI0KXQcjXnH91UFEXGLRymfbNXPpg",
     "test123", NULL, PASSWD_ERROR},
    {"{ARGON2ID}", "test123", NULL, PASSWD_ERROR},
    {"{ARGON2ID}garbage", "test123", NULL, PASSWD_ERROR},
    /* ARGON2I */
    {"{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$OCnpuWnJl2whEp1+4zTM5Q$"
     "d4wUINesoiqMO3oI0KXQcjXnH91UFEXGLRymfbNXPpg",
     "test123", NULL, PASSWD_OK},
    {"{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$OCnpuWnJl2whEp1+4zTM5Q$"
     "d4wUINesoiqMO3oI0KXQcjXnH91UFEXGLRymfbNXPpg",
     "Test123", NULL, PASSWD_MISMATCH},
    /* SHA512-CRYPT */
    {"{SHA512-CRYPT}$6$J4RHTufxw.Dcs6ib$3R.rcUdhgjUu9W6iJEiFlZrAQGVJfKICnCi"
     "uecsIBGejEMASZZ.jd9tuIY50xc28QV/1G4jWwaEThQS8ZxfsX0",
     "test123", NULL, PASSWD_OK},
    {"{SHA512-CRYPT}$6$J4RHTufxw.Dcs6ib$3R.rcUdhgjUu9W6iJEiFlZrAQGVJfKICnCi"
     "uecsIBGejEMASZZ.jd9tuIY50xc28QV/1G4jWwaEThQS8ZxfsX0",
     "test12", NULL, PASSWD_MISMATCH},
    {"{SHA512-CRYPT}$6$J4RHTufxw.Dcs6ib$3R.rcUdhg", "test123", NULL,
     PASSWD_ERROR},
    {"{SHA512-CRYPT}$5$BMWDRPO69i7XN9Ru$E6bcif6SQGZvOgE6KLvqXu4ri2nu6pyA4U1"
     "rbyj8pS0",
     "test123", NULL, PASSWD_ERROR},
    /* SHA256-CRYPT */
    {"{SHA256-CRYPT}$5$BMWDRPO69i7XN9Ru$E6bcif6SQGZvOgE6KLvqXu4ri2nu6pyA4U1"
     "rbyj8pS0",
     "test123", NULL, PASSWD_OK},
    {"{SHA256-CRYPT}$5$BMWDRPO69i7XN9Ru$E6bcif6SQGZvOgE6KLvqXu4ri2nu6pyA4U1"
     "rbyj8pS0",
     "", NULL, PASSWD_MISMATCH},
    /* BLF-CRYPT */
    {"{BLF-CRYPT}$2y$05$iL0ezS4S1ZCxGsxWtP1.3uCAQAaeoNY9AGuvts8vc43TnaJD8vKJy",
     "test123", NULL, PASSWD_OK},
    {"{BLF-CRYPT}$2y$05$iL0ezS4S1ZCxGsxWtP1.3uCAQAaeoNY9AGuvts8vc43TnaJD8vKJy",
     "test1234", NULL, PASSWD_MISMATCH},
    {"{BLF-CRYPT}$2y$05$iL0ez", "test123", NULL, PASSWD_ERROR},
    /* MD5-CRYPT */
    {"{MD5-CRYPT}$1$x/LPaIoK$0f7327PZbwnklIMQFDACP1", "test123", NULL,
     PASSWD_OK},
    {"{MD5-CRYPT}$1$x/LPaIoK$0f7327PZbwnklIMQFDACP1", "TEST123", NULL,
     PASSWD_MISMATCH},
    /* CRYPT: bcrypt from doveadm, traditional DES */
    {"{CRYPT}$2y$05$zty9fbdBmACEI0bo2FGJyOqKAYzh33hjmD6SOOYYHhSCu9EAw8aQ.",
     "test123", NULL, PASSWD_OK},
    {"{CRYPT}abRcsZmlrrKFA", "test123", NULL, PASSWD_OK},
    {"{CRYPT}abRcsZmlrrKFA", "test1", NULL, PASSWD_MISMATCH},
    {"{CRYPT}a", "test123", NULL, PASSWD_ERROR},
    /* No prefix: the default scheme. */
    {"$6$J4RHTufxw.Dcs6ib$3R.rcUdhgjUu9W6iJEiFlZrAQGVJfKICnCiuecsIBGejEMASZ"
     "Z.jd9tuIY50xc28QV/1G4jWwaEThQS8ZxfsX0",
     "test123", "SHA512-CRYPT", PASSWD_OK},
    {"$6$J4RHTufxw.Dcs6ib$3R.rcUdhgjUu9W6iJEiFlZrAQGVJfKICnCiuecsIBGejEMASZ"
     "Z.jd9tuIY50xc28QV/1G4jWwaEThQS8ZxfsX0",
     "wrong", "SHA512-CRYPT", PASSWD_MISMATCH},
    {"abRcsZmlrrKFA", "test123", NULL, PASSWD_OK},
    {"$argon2id$v=19$m=65536,t=3,p=1$1mowk+8+X/dQBj5PXb7KSg$"
     "qfYcFskV1SOh5gS10FYF/FanYKdFGvk4vXJjiKHHm5M",
     "test123", "ARGON2ID", PASSWD_OK},
    {"$1$x/LPaIoK$0f7327PZbwnklIMQFDACP1", "test123", "SHA512-CRYPT",
     PASSWD_ERROR},
    /* Unknown schemes and junk. */
    {"{PLAIN}test123", "test123", NULL, PASSWD_ERROR},
    {"{NOSUCH}xyz", "test123", NULL, PASSWD_ERROR},
    {"", "test123", NULL, PASSWD_ERROR},
    {"test123", "test123", "NOSUCH", PASSWD_ERROR},
};

/* test_vectors - every case of the table */
START_TEST(test_vectors)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(passwd_cases); i++) {
		const struct passwd_case *c = &passwd_cases[i];
		const char *error = NULL;
		int got = passwd_verify(c->stored, c->password,
					c->default_scheme, &error);

		ck_assert_msg(got == c->want,
			      "case %zu (%s / %s): got %d, want %d (%s)", i,
			      c->stored, c->password, got, c->want,
			      error ? error : "");
		if (got == PASSWD_ERROR)
			ck_assert_ptr_nonnull(error);
	}
}

END_TEST

/* test_hash_roundtrip - a new hash verifies, in Dovecot's shape */
START_TEST(test_hash_roundtrip)
{
	struct strbuf *h = strbuf_alloc(128);
	const char *error = NULL;

	ck_assert_int_eq(passwd_hash("s3cret pw", h), 0);
	ck_assert_msg(strncmp(strbuf_str(h), "{ARGON2ID}$argon2id$v=19$", 25) ==
			  0,
		      "got %s", strbuf_str(h));
	ck_assert_ptr_nonnull(strstr(strbuf_str(h), ",t=3,"));
	ck_assert_int_eq(
	    passwd_verify(strbuf_str(h), "s3cret pw", NULL, &error), PASSWD_OK);
	ck_assert_int_eq(
	    passwd_verify(strbuf_str(h), "s3cret pW", NULL, &error),
	    PASSWD_MISMATCH);
	strbuf_free(&h);
}

END_TEST

/* test_dummy - the dummy hash is stable, valid and matches nothing */
START_TEST(test_dummy)
{
	const char *d = passwd_dummy_hash();
	const char *error = NULL;
	struct strbuf *h = strbuf_alloc(128);

	ck_assert_ptr_eq(d, passwd_dummy_hash());
	ck_assert(strncmp(d, "$argon2id$", 10) == 0);
	strbuf_printf(h, "{ARGON2ID}%s", d);
	ck_assert_int_eq(passwd_verify(strbuf_str(h), "", NULL, &error),
			 PASSWD_MISMATCH);
	ck_assert_int_eq(passwd_verify(strbuf_str(h), "test123", NULL, &error),
			 PASSWD_MISMATCH);
	strbuf_free(&h);
}

END_TEST

/* test_known - scheme names */
START_TEST(test_known)
{
	ck_assert(passwd_scheme_known("ARGON2ID"));
	ck_assert(passwd_scheme_known("sha512-crypt"));
	ck_assert(passwd_scheme_known("CRYPT"));
	ck_assert(!passwd_scheme_known("PLAIN"));
	ck_assert(!passwd_scheme_known(""));
}

END_TEST

/* passwd_suite - the suite */
static Suite *passwd_suite(void)
{
	Suite *s = suite_create("passwd");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_vectors);
	tcase_add_test(tc, test_hash_roundtrip);
	tcase_add_test(tc, test_dummy);
	tcase_add_test(tc, test_known);
	suite_add_tcase(s, tc);
	return s;
}

/* main - run the suite */
int main(void)
{
	SRunner *sr = srunner_create(passwd_suite());
	int failed;

	log_init("postern", "test_passwd");
	log_set_syslog(false);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
