/*
 * NAME
 *	test_bounce_dsn - unit tests for daemons/bounce/bounce_dsn.c
 * SYNOPSIS
 *	build/unit/daemons/bounce/test_bounce_dsn
 * DESCRIPTION
 *	The header/body split, the RET decision, Diagnostic-Code from a
 *	remote reply or a local reason, and a whole notification: its
 *	MIME structure, the RFC 3464 fields, and that a reason with a
 *	line break cannot add a header.
 * DIAGNOSTICS
 *	Check's report; exit status 1 when a test fails.
 */
#include "sys_defs.h"

#include <check.h>

#include "log.h"
#include "strbuf.h"
#include "../../../../daemons/bounce/bounce.h"

/* W - a writable copy of a string literal (block lifetime) */
#define W(s) ((char[]){s})

START_TEST(test_header_len)
{
	static const struct {
		const char *in;
		size_t want;
	} cases[] = {
	    {"A: b\n\nbody\n", 6},
	    {"A: b\nC: d\n\n", 11},
	    {"\nbody", 1},
	    {"A: b\n", 5},
	    {"", 0},
	};

	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++)
		ck_assert_uint_eq(
		    bounce_header_len(cases[i].in, strlen(cases[i].in)),
		    cases[i].want);
}

END_TEST

START_TEST(test_want_full)
{
	struct qfile_msg m;

	memset(&m, 0, sizeof(m));
	m.ret = W("FULL");
	ck_assert(bounce_want_full(&m, 10 * 1024 * 1024));
	m.ret = W("HDRS");
	ck_assert(!bounce_want_full(&m, 10));
	m.ret = W("");
	ck_assert(bounce_want_full(&m, BOUNCE_FULL_LIMIT));
	ck_assert(!bounce_want_full(&m, BOUNCE_FULL_LIMIT + 1));
}

END_TEST

START_TEST(test_diag)
{
	static const struct {
		const char *reason, *want;
	} cases[] = {
	    {"host mx[192.0.2.1]:25 said: 550 5.1.1 <a@b>: unknown (in "
	     "reply to RCPT TO command)",
	     "smtp; 550 5.1.1 <a@b>: unknown"},
	    {"unknown user: \"a@b\"", "X-Postern; unknown user: \"a@b\""},
	    {"line\nbreak", "X-Postern; line?break"},
	};
	struct strbuf *sb = strbuf_alloc(64);
	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		bounce_diag(cases[i].reason, sb);
		ck_assert_str_eq(sb->data, cases[i].want);
	}
	strbuf_free(&sb);
}

END_TEST

START_TEST(test_build)
{
	struct qfile_rcpt rcpts[2];
	struct qfile_msg m;
	struct bounce_rcpt br[1];
	struct bounce_info info;
	struct strbuf *out = strbuf_alloc(1024);
	const char *content = "Subject: hello\nFrom: s@x.test\n\nsecret body\n";

	memset(&m, 0, sizeof(m));
	memset(rcpts, 0, sizeof(rcpts));
	(void)snprintf(m.queue_id, sizeof(m.queue_id), "0123456789ABCDEF");
	m.arrival = 1700000000;
	m.sender = W("s@x.test");
	m.ret = W("HDRS");
	m.envid = W("ENV1");
	rcpts[1].address = W("gone@y.test");
	rcpts[1].orcpt = W("rfc822;alias@y.test");
	m.rcpts = rcpts;
	m.nrcpt = 2;
	br[0].index = 1;
	br[0].dsn = "5.1.1";
	br[0].reason = "unknown user\nX-Injected: yes";
	br[0].relay = "virtual";
	memset(&info, 0, sizeof(info));
	info.msg = &m;
	info.content = content;
	info.content_len = strlen(content);
	info.hostname = "mx.test";
	info.action = "failed";
	info.rcpt = br;
	info.nrcpt = 1;
	info.now = 1700000100;
	info.boundary = "B0UND";
	bounce_build(&info, out);
	ck_assert(strncmp(out->data, "From: MAILER-DAEMON@mx.test", 27) == 0);
	ck_assert(strstr(out->data, "\nTo: <s@x.test>\n") != NULL);
	ck_assert(strstr(out->data, "report-type=delivery-status;\n"
				    "\tboundary=\"B0UND\"\n") != NULL);
	ck_assert(strstr(out->data, "Reporting-MTA: dns; mx.test\n") != NULL);
	ck_assert(strstr(out->data, "Original-Envelope-Id: ENV1\n") != NULL);
	ck_assert(strstr(out->data, "Final-Recipient: rfc822; gone@y.test\n"
				    "Original-Recipient: rfc822; "
				    "alias@y.test\n"
				    "Action: failed\nStatus: 5.1.1\n") != NULL);
	ck_assert(strstr(out->data, "\nX-Injected") == NULL);
	ck_assert(strstr(out->data, "Content-Type: text/rfc822-headers\n\n"
				    "Subject: hello\n") != NULL);
	ck_assert(strstr(out->data, "secret body") == NULL);
	ck_assert(strstr(out->data, "\n--B0UND--\n") != NULL);
	strbuf_free(&out);
}

END_TEST

/* bounce_suite - every test */
static Suite *bounce_suite(void)
{
	Suite *s = suite_create("bounce_dsn");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_header_len);
	tcase_add_test(tc, test_want_full);
	tcase_add_test(tc, test_diag);
	tcase_add_test(tc, test_build);
	suite_add_tcase(s, tc);
	return s;
}

/* main - run the suite */
int main(void)
{
	SRunner *sr = srunner_create(bounce_suite());
	int failed;

	log_init("postern", "test_bounce_dsn");
	log_set_syslog(false);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
