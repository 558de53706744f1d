/*
 * NAME
 *	test_smtpd_addr - unit tests for daemons/smtpd/smtpd_addr.c
 * SYNOPSIS
 *	build/unit/daemons/smtpd/test_smtpd_addr
 * DESCRIPTION
 *	The RFC 5321 path parser (quoted local parts, escapes, source
 *	routes, address literals, the null path, <postmaster>, UTF-8 with
 *	and without SMTPUTF8, control characters and NULs, length limits),
 *	the quoting of internal addresses, ESMTP parameter splitting, xtext,
 *	NOTIFY and SIZE.
 * DIAGNOSTICS
 *	Check's report; exit status 1 when a test fails.
 */
#include "sys_defs.h"

#include <check.h>
#include <limits.h>

#include "log.h"
#include "strbuf.h"

#include "../../../../daemons/smtpd/smtpd.h"

#define ALL ((size_t)-1)

/* test_addr_parse - table of paths, flags and expected results */
START_TEST(test_addr_parse)
{
	static const struct {
		const char *in;
		size_t len; /* 0: strlen */
		unsigned flags;
		int want;
		const char *want_addr;
		size_t want_end; /* ALL: whole input */
	} cases[] = {
	    {"<user@example.com>", 0, 0, SMTPD_ADDR_OK, "user@example.com",
	     ALL},
	    {"<>", 0, SMTPD_ADDR_NULL_OK, SMTPD_ADDR_OK, "", ALL},
	    {"<>", 0, 0, SMTPD_ADDR_SYNTAX, NULL, 0},
	    {" <user@example.com>", 0, 0, SMTPD_ADDR_OK, "user@example.com",
	     ALL},
	    {"user@example.com", 0, 0, SMTPD_ADDR_OK, "user@example.com", ALL},
	    {"user@example.com SIZE=1", 0, 0, SMTPD_ADDR_OK, "user@example.com",
	     16},
	    {"<user@example.com> SIZE=10", 0, 0, SMTPD_ADDR_OK,
	     "user@example.com", 18},
	    {"<\"john doe\"@example.com>", 0, 0, SMTPD_ADDR_OK,
	     "john doe@example.com", ALL},
	    {"<\"a\\\"b\"@example.com>", 0, 0, SMTPD_ADDR_OK,
	     "a\"b@example.com", ALL},
	    {"<\"a\\\\b\"@example.com>", 0, 0, SMTPD_ADDR_OK,
	     "a\\b@example.com", ALL},
	    {"<\"a@b\"@example.com>", 0, 0, SMTPD_ADDR_OK, "a@b@example.com",
	     ALL},
	    {"<\"unterminated@example.com>", 0, 0, SMTPD_ADDR_SYNTAX, NULL, 0},
	    {"<@relay.example,@r2.example:user@example.com>", 0, 0,
	     SMTPD_ADDR_OK, "user@example.com", ALL},
	    {"<@relay.example:user@example.com>", 0, 0, SMTPD_ADDR_OK,
	     "user@example.com", ALL},
	    {"<@[192.0.2.1]:user@example.com>", 0, 0, SMTPD_ADDR_OK,
	     "user@example.com", ALL},
	    {"<@relay.example user@example.com>", 0, 0, SMTPD_ADDR_SYNTAX, NULL,
	     0},
	    {"<@relay.example,user@example.com>", 0, 0, SMTPD_ADDR_SYNTAX, NULL,
	     0},
	    {"<@:user@example.com>", 0, 0, SMTPD_ADDR_SYNTAX, NULL, 0},
	    {"<user@[192.0.2.1]>", 0, 0, SMTPD_ADDR_OK, "user@[192.0.2.1]",
	     ALL},
	    {"<user@[IPv6:2001:db8::1]>", 0, 0, SMTPD_ADDR_OK,
	     "user@[IPv6:2001:db8::1]", ALL},
	    {"<user@[300.1.1.1]>", 0, 0, SMTPD_ADDR_SYNTAX, NULL, 0},
	    {"<user@[IPv6:zz]>", 0, 0, SMTPD_ADDR_SYNTAX, NULL, 0},
	    {"<user@[x-tag:abc]>", 0, 0, SMTPD_ADDR_OK, "user@[x-tag:abc]",
	     ALL},
	    {"<user@[192.0.2.1>", 0, 0, SMTPD_ADDR_SYNTAX, NULL, 0},
	    {"<user@[]>", 0, 0, SMTPD_ADDR_SYNTAX, NULL, 0},
	    {"<Postmaster>", 0, SMTPD_ADDR_POSTMASTER_OK, SMTPD_ADDR_OK,
	     "Postmaster", ALL},
	    {"<postmaster>", 0, 0, SMTPD_ADDR_SYNTAX, NULL, 0},
	    {"<user>", 0, SMTPD_ADDR_POSTMASTER_OK, SMTPD_ADDR_SYNTAX, NULL, 0},
	    {"<\"postmaster\">", 0, SMTPD_ADDR_POSTMASTER_OK, SMTPD_ADDR_SYNTAX,
	     NULL, 0},
	    {"<a..b@example.com>", 0, 0, SMTPD_ADDR_SYNTAX, NULL, 0},
	    {"<.a@example.com>", 0, 0, SMTPD_ADDR_SYNTAX, NULL, 0},
	    {"<a.@example.com>", 0, 0, SMTPD_ADDR_SYNTAX, NULL, 0},
	    {"<@example.com>", 0, 0, SMTPD_ADDR_SYNTAX, NULL, 0},
	    {"<a@-example.com>", 0, 0, SMTPD_ADDR_SYNTAX, NULL, 0},
	    {"<a@example-.com>", 0, 0, SMTPD_ADDR_SYNTAX, NULL, 0},
	    {"<a@example..com>", 0, 0, SMTPD_ADDR_SYNTAX, NULL, 0},
	    {"<a@example.com.>", 0, 0, SMTPD_ADDR_SYNTAX, NULL, 0},
	    {"<a@>", 0, 0, SMTPD_ADDR_SYNTAX, NULL, 0},
	    {"<a@b>", 0, 0, SMTPD_ADDR_OK, "a@b", ALL},
	    {"<a@exa mple.com>", 0, 0, SMTPD_ADDR_SYNTAX, NULL, 0},
	    {"<a b@example.com>", 0, 0, SMTPD_ADDR_SYNTAX, NULL, 0},
	    {"<a,b@example.com>", 0, 0, SMTPD_ADDR_SYNTAX, NULL, 0},
	    {"<a@exa_mple.com>", 0, 0, SMTPD_ADDR_SYNTAX, NULL, 0},
	    {"<user@example.com", 0, 0, SMTPD_ADDR_SYNTAX, NULL, 0},
	    {"<<user@example.com>>", 0, 0, SMTPD_ADDR_SYNTAX, NULL, 0},
	    {"<user@@example.com>", 0, 0, SMTPD_ADDR_SYNTAX, NULL, 0},
	    {"<user@example.com>>", 0, 0, SMTPD_ADDR_OK, "user@example.com",
	     18},
	    {"", 0, 0, SMTPD_ADDR_SYNTAX, NULL, 0},
	    {"<", 0, 0, SMTPD_ADDR_SYNTAX, NULL, 0},
	    /* Control characters and NULs never get through. */
	    {"<\"a\rb\"@example.com>", 0, 0, SMTPD_ADDR_SYNTAX, NULL, 0},
	    {"<\"a\\\rb\"@example.com>", 0, 0, SMTPD_ADDR_SYNTAX, NULL, 0},
	    {"<\"a\\\nb\"@example.com>", 0, 0, SMTPD_ADDR_SYNTAX, NULL, 0},
	    {"<a\nb@example.com>", 0, 0, SMTPD_ADDR_SYNTAX, NULL, 0},
	    {"<a\0b@example.com>", 17, 0, SMTPD_ADDR_SYNTAX, NULL, 0},
	    {"<\"a\0b\"@example.com>", 19, 0, SMTPD_ADDR_SYNTAX, NULL, 0},
	    {"<ab@exam\0ple.com>", 17, 0, SMTPD_ADDR_SYNTAX, NULL, 0},
	    {"<a\x7f@example.com>", 0, 0, SMTPD_ADDR_SYNTAX, NULL, 0},
	    /* UTF-8 (RFC 6531). */
	    {"<\xce\xb4\xce\xbf\xce\xba@\xcf\x80\xce\xb1.example>", 0,
	     SMTPD_ADDR_UTF8, SMTPD_ADDR_OK,
	     "\xce\xb4\xce\xbf\xce\xba@\xcf\x80\xce\xb1.example", ALL},
	    {"<\xce\xb4\xce\xbf\xce\xba@\xcf\x80\xce\xb1.example>", 0, 0,
	     SMTPD_ADDR_NEED_UTF8, NULL, 0},
	    {"<\"J\xc3\xbcrgen M\"@example.com>", 0, SMTPD_ADDR_UTF8,
	     SMTPD_ADDR_OK, "J\xc3\xbcrgen M@example.com", ALL},
	    {"<\xff@example.com>", 0, SMTPD_ADDR_UTF8, SMTPD_ADDR_SYNTAX, NULL,
	     0},
	    {"<\xc0\xaf@example.com>", 0, SMTPD_ADDR_UTF8, SMTPD_ADDR_SYNTAX,
	     NULL, 0},
	    {"<\xed\xa0\x80@example.com>", 0, SMTPD_ADDR_UTF8,
	     SMTPD_ADDR_SYNTAX, NULL, 0},
	    {"<a@\xce>", 0, SMTPD_ADDR_UTF8, SMTPD_ADDR_SYNTAX, NULL, 0},
	    /* Lengths. */
	    {"<a@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	     "aaa.example>",
	     0, 0, SMTPD_ADDR_SYNTAX, NULL, 0},
	    {"<a@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	     "aa.example>",
	     0, 0, SMTPD_ADDR_OK,
	     "a@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	     ".example",
	     ALL},
	};
	struct smtpd_addr addr;
	size_t i;

	strbuf_init(&addr.addr, 16);
	for (i = 0; i < ARRAY_LEN(cases); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);
		size_t end = 12345;
		const char *err = NULL;
		int r = smtpd_addr_parse(cases[i].in, len, cases[i].flags,
					 &addr, &end, &err);

		ck_assert_msg(r == cases[i].want,
			      "case %zu (%s): got %d, want %d (%s)", i,
			      cases[i].in, r, cases[i].want, err ? err : "");
		if (r != SMTPD_ADDR_OK)
			continue;
		ck_assert_msg(strcmp(addr.addr.data, cases[i].want_addr) == 0,
			      "case %zu: got <%s>, want <%s>", i,
			      addr.addr.data, cases[i].want_addr);
		ck_assert_msg(
		    end == (cases[i].want_end == ALL ? len : cases[i].want_end),
		    "case %zu: end %zu", i, end);
	}
	strbuf_release(&addr.addr);
}

END_TEST

/* test_addr_long - a path over 256 octets is refused */
START_TEST(test_addr_long)
{
	struct smtpd_addr addr;
	struct strbuf in;
	size_t end, i;
	const char *err;

	strbuf_init(&addr.addr, 16);
	strbuf_init(&in, 400);
	(void)strbuf_cat(&in, "<");
	for (i = 0; i < 300; i++)
		(void)strbuf_addch(&in, 'a');
	(void)strbuf_cat(&in, "@example.com>");
	ck_assert_int_eq(
	    smtpd_addr_parse(in.data, in.len, 0, &addr, &end, &err),
	    SMTPD_ADDR_TOO_LONG);
	strbuf_release(&in);
	strbuf_release(&addr.addr);
}

END_TEST

/* test_addr_quote - internal form back to the external form */
START_TEST(test_addr_quote)
{
	static const struct {
		const char *in;
		const char *want;
	} cases[] = {
	    {"user@example.com", "user@example.com"},
	    {"john doe@example.com", "\"john doe\"@example.com"},
	    {"a\"b@example.com", "\"a\\\"b\"@example.com"},
	    {"a@b@example.com", "\"a@b\"@example.com"},
	    {"a..b@example.com", "\"a..b\"@example.com"},
	    {"Postmaster", "Postmaster"},
	    {"", "\"\""},
	};
	struct strbuf out;
	size_t i;

	strbuf_init(&out, 16);
	for (i = 0; i < ARRAY_LEN(cases); i++) {
		strbuf_reset(&out);
		smtpd_addr_quote(cases[i].in, &out);
		ck_assert_msg(strcmp(out.data, cases[i].want) == 0,
			      "case %zu: got %s, want %s", i, out.data,
			      cases[i].want);
	}
	strbuf_release(&out);
}

END_TEST

/* test_params - ESMTP parameter splitting */
START_TEST(test_params)
{
	static const struct {
		const char *in;
		bool utf8;
		int want;
		size_t want_count;
		const char *want_first; /* "NAME=VALUE" or "NAME" */
	} cases[] = {
	    {"", false, 0, 0, NULL},
	    {" SIZE=100 BODY=8BITMIME", false, 0, 2, "SIZE=100"},
	    {"  SMTPUTF8", false, 0, 1, "SMTPUTF8"},
	    {" SIZE=100   ", false, 0, 1, "SIZE=100"},
	    {"SIZE=1", false, -1, 0, NULL},
	    {" SIZE=", false, -1, 0, NULL},
	    {" =x", false, -1, 0, NULL},
	    {" -X=1", false, -1, 0, NULL},
	    {" A-B=c", false, 0, 1, "A-B=c"},
	    {" X=a=b", false, -1, 0, NULL},
	    {" X_Y=1", false, -1, 0, NULL},
	    {" X=\x01", false, -1, 0, NULL},
	    {" X=\xc3\xa9", false, -1, 0, NULL},
	    {" X=\xc3\xa9", true, 0, 1, "X=\xc3\xa9"},
	    {" X=\xc3", true, -1, 0, NULL},
	    {" A=1 B=2 C=3 D=4 E=5 F=6 G=7 H=8 I=9 J=10 K=11 L=12 M=13 N=14 "
	     "O=15 P=16 Q=17",
	     false, -1, 0, NULL},
	};
	struct smtpd_param params[SMTPD_PARAM_MAX];
	size_t i, count;
	const char *err;
	char first[64];

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		int r = smtpd_params_parse(cases[i].in, strlen(cases[i].in),
					   cases[i].utf8, params,
					   ARRAY_LEN(params), &count, &err);

		ck_assert_msg(r == cases[i].want, "case %zu: got %d", i, r);
		if (r < 0)
			continue;
		ck_assert_msg(count == cases[i].want_count,
			      "case %zu: count %zu", i, count);
		if (count == 0)
			continue;
		if (params[0].value != NULL)
			snprintf(first, sizeof(first), "%.*s=%.*s",
				 (int)params[0].name_len, params[0].name,
				 (int)params[0].value_len, params[0].value);
		else
			snprintf(first, sizeof(first), "%.*s",
				 (int)params[0].name_len, params[0].name);
		ck_assert_str_eq(first, cases[i].want_first);
	}
}

END_TEST

/* test_xtext - RFC 3461 xtext decoding */
START_TEST(test_xtext)
{
	static const struct {
		const char *in;
		int want;
		const char *want_out;
		size_t want_len;
	} cases[] = {
	    {"abc", 0, "abc", 3},    {"a+2Bb", 0, "a+b", 3},
	    {"a+2bb", 0, "a+b", 3},  {"a+0D+0Ab", 0, "a\r\nb", 4},
	    {"a+00b", 0, "a\0b", 3}, {"+4", -1, NULL, 0},
	    {"+ZZ", -1, NULL, 0},    {"a=b", -1, NULL, 0},
	    {"a b", -1, NULL, 0},    {"\xc3\xa9", -1, NULL, 0},
	};
	struct strbuf out;
	size_t i;

	strbuf_init(&out, 16);
	for (i = 0; i < ARRAY_LEN(cases); i++) {
		int r;

		strbuf_reset(&out);
		r = smtpd_xtext_decode(cases[i].in, strlen(cases[i].in), &out);
		ck_assert_msg(r == cases[i].want, "case %zu: got %d", i, r);
		if (r < 0)
			continue;
		ck_assert_uint_eq(out.len, cases[i].want_len);
		ck_assert_msg(memcmp(out.data, cases[i].want_out, out.len) == 0,
			      "case %zu", i);
	}
	strbuf_release(&out);
}

END_TEST

/* test_notify - RFC 3461 NOTIFY lists */
START_TEST(test_notify)
{
	static const struct {
		const char *in;
		int want;
		const char *want_out;
	} cases[] = {
	    {"NEVER", 0, "NEVER"},
	    {"never", 0, "NEVER"},
	    {"success,failure", 0, "SUCCESS,FAILURE"},
	    {"DELAY", 0, "DELAY"},
	    {"SUCCESS,FAILURE,DELAY", 0, "SUCCESS,FAILURE,DELAY"},
	    {"NEVER,SUCCESS", -1, NULL},
	    {"SUCCESS,SUCCESS", -1, NULL},
	    {"", -1, NULL},
	    {"SUCCESS,", -1, NULL},
	    {",SUCCESS", -1, NULL},
	    {"SOMETIMES", -1, NULL},
	};
	struct strbuf out;
	size_t i;

	strbuf_init(&out, 16);
	for (i = 0; i < ARRAY_LEN(cases); i++) {
		int r =
		    smtpd_notify_parse(cases[i].in, strlen(cases[i].in), &out);

		ck_assert_msg(r == cases[i].want, "case %zu: got %d", i, r);
		if (r == 0)
			ck_assert_str_eq(out.data, cases[i].want_out);
	}
	strbuf_release(&out);
}

END_TEST

/* test_size - decimal sizes and overflow */
START_TEST(test_size)
{
	static const struct {
		const char *in;
		int want;
		unsigned long long want_size;
	} cases[] = {
	    {"0", 0, 0},
	    {"123", 0, 123},
	    {"18446744073709551615", 0, ULLONG_MAX},
	    {"18446744073709551616", 1, ULLONG_MAX},
	    {"99999999999999999999999999999", 1, ULLONG_MAX},
	    {"", -1, 0},
	    {"12a", -1, 0},
	    {"-1", -1, 0},
	    {"+1", -1, 0},
	};

	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		unsigned long long size = 7;
		int r =
		    smtpd_size_parse(cases[i].in, strlen(cases[i].in), &size);

		ck_assert_msg(r == cases[i].want, "case %zu: got %d", i, r);
		if (r >= 0)
			ck_assert_msg(size == cases[i].want_size, "case %zu",
				      i);
	}
}

END_TEST

/* addr_suite - every address and parameter test */
static Suite *addr_suite(void)
{
	Suite *s = suite_create("smtpd_addr");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_addr_parse);
	tcase_add_test(tc, test_addr_long);
	tcase_add_test(tc, test_addr_quote);
	tcase_add_test(tc, test_params);
	tcase_add_test(tc, test_xtext);
	tcase_add_test(tc, test_notify);
	tcase_add_test(tc, test_size);
	suite_add_tcase(s, tc);
	return s;
}

/* main - run the suite */
int main(void)
{
	SRunner *sr = srunner_create(addr_suite());
	int failed;

	log_init("postern", "test_smtpd_addr");
	log_set_syslog(false);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
