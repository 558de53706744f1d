/*
 * NAME
 *	test_sendmail_msg - unit tests for postern-sendmail's message code
 * SYNOPSIS
 *	build/unit/admin/sendmail/test_sendmail_msg
 * DESCRIPTION
 *	RFC 5322 address lists (display names, quoted strings, comments,
 *	groups, source routes), Bcc removal and -t extraction, and the
 *	reader (CR LF, the lone dot, -i, the size limit).
 * DIAGNOSTICS
 *	Check's report; exit status 1 when a test fails.
 */
#include "sys_defs.h"

#include <check.h>

#include "strbuf.h"

#include "../../../../admin/sendmail/sendmail.h"

/* joined - a list as "a|b|c" */
static void joined(const struct sendmail_addrs *a, struct strbuf *out)
{
	size_t i;

	strbuf_reset(out);
	for (i = 0; i < a->n; i++)
		strbuf_printf_append(out, "%s%s", i ? "|" : "", a->v[i]);
}

/* test_addresses - address-list parsing */
START_TEST(test_addresses)
{
	static const struct {
		const char *in;
		const char *want;
	} cases[] = {
	    {"a@example.com", "a@example.com"},
	    {"a@example.com, b@example.org", "a@example.com|b@example.org"},
	    {"Bob <bob@example.com>", "bob@example.com"},
	    {"\"Smith, John\" <js@example.com>, x@y", "js@example.com|x@y"},
	    {"a@b (the, comment (nested)), c@d", "a@b|c@d"},
	    {"undisclosed-recipients:;", ""},
	    {"team: m1@x, m2@x;, after@x", "m1@x|m2@x|after@x"},
	    {"<@relay.example,@r2:user@example.com>", "user@example.com"},
	    {"\"quoted local\"@example.com", "\"quoted local\"@example.com"},
	    {"\n\t folded@example.com\n", "folded@example.com"},
	    {",,, ,", ""},
	};
	struct strbuf *got = strbuf_alloc(64);
	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		struct sendmail_addrs a = {NULL, 0};

		sendmail_parse_addresses(cases[i].in, strlen(cases[i].in), &a);
		joined(&a, got);
		ck_assert_msg(strcmp(got->data, cases[i].want) == 0,
			      "case %zu: got [%s] want [%s]", i, got->data,
			      cases[i].want);
		sendmail_addrs_free(&a);
	}
	strbuf_free(&got);
}

END_TEST

/* test_headers - Bcc removed always, recipients extracted with -t */
START_TEST(test_headers)
{
	static const struct {
		const char *in;
		bool extract;
		const char *want_out;
		const char *want_rcpts;
		bool want_from;
	} cases[] = {
	    {"To: a@x\nBcc: b@x\nSubject: s\n\nBcc: body@x\n", true,
	     "To: a@x\nSubject: s\n\nBcc: body@x\n", "a@x|b@x", false},
	    {"BCC: b@x,\n c@x\nFrom: f@x\n\nbody\n", false,
	     "From: f@x\n\nbody\n", "", true},
	    {"cc: A <a@x>\nTo: t@x\n", true, "cc: A <a@x>\nTo: t@x\n",
	     "a@x|t@x", false},
	    {"not a header\nTo: a@x\n", true, "not a header\nTo: a@x\n", "",
	     false},
	    {"Reply-To: r@x\nResent-To: q@x\n\n", true,
	     "Reply-To: r@x\nResent-To: q@x\n\n", "", false},
	};
	struct strbuf *in = strbuf_alloc(64), *out = strbuf_alloc(64);
	struct strbuf *got = strbuf_alloc(64);
	size_t i;
	bool have_from;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		struct sendmail_addrs a = {NULL, 0};

		strbuf_copy(in, cases[i].in);
		sendmail_rewrite_headers(in, cases[i].extract, &a, &have_from,
					 out);
		ck_assert_msg(strcmp(out->data, cases[i].want_out) == 0,
			      "case %zu: got [%s]", i, out->data);
		joined(&a, got);
		ck_assert_msg(strcmp(got->data, cases[i].want_rcpts) == 0,
			      "case %zu: rcpts [%s]", i, got->data);
		ck_assert(have_from == cases[i].want_from);
		sendmail_addrs_free(&a);
	}
	strbuf_free(&in);
	strbuf_free(&out);
	strbuf_free(&got);
}

END_TEST

/* read_string - sendmail_read_message() of a string */
static enum sendmail_read read_string(const char *s, bool dot_ends, size_t max,
				      struct strbuf *out)
{
	FILE *f = fmemopen((void *)(uintptr_t)s, strlen(s), "r");
	enum sendmail_read r;

	ck_assert_ptr_nonnull(f);
	r = sendmail_read_message(f, dot_ends, max, out);
	fclose(f);
	return r;
}

/* test_read - line endings, the dot, the limit */
START_TEST(test_read)
{
	struct strbuf *out = strbuf_alloc(64);

	ck_assert_int_eq(read_string("a\r\nb\r\n.\r\nc\n", true, 100, out),
			 SENDMAIL_READ_OK);
	ck_assert_str_eq(out->data, "a\nb\n");
	ck_assert_int_eq(read_string("a\r\nb\r\n.\r\nc", false, 100, out),
			 SENDMAIL_READ_OK);
	ck_assert_str_eq(out->data, "a\nb\n.\nc\n");
	ck_assert_int_eq(read_string("..\n. \nbare\rcr\n", true, 100, out),
			 SENDMAIL_READ_OK);
	ck_assert_str_eq(out->data, "..\n. \nbare\rcr\n");
	ck_assert_int_eq(read_string("0123456789\n", true, 11, out),
			 SENDMAIL_READ_OK);
	ck_assert_int_eq(read_string("0123456789\n", true, 10, out),
			 SENDMAIL_READ_TOO_BIG);
	strbuf_free(&out);
}

END_TEST

/* main - run the suite */
int main(void)
{
	Suite *s = suite_create("sendmail_msg");
	TCase *tc = tcase_create("msg");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_addresses);
	tcase_add_test(tc, test_headers);
	tcase_add_test(tc, test_read);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
