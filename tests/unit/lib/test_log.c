/*
 * NAME
 *	test_log - unit tests for lib/log.c
 * SYNOPSIS
 *	build/unit/lib/test_log
 * DESCRIPTION
 *	A formatted line never holds a control character (whatever the
 *	arguments), prefixes of warnings, log_escape() and log_esc()
 *	escape brackets, backslashes and non-printable bytes, and
 *	log_esc() results stay valid for LOG_ESC_SLOTS calls.
 * DIAGNOSTICS
 *	Check's report; exit status 1 when a test fails.
 */
#include "sys_defs.h"

#include <check.h>

#include "log.h"
#include "strbuf.h"

static char last[4096];

/* capture - keep the last formatted line */
static void capture(enum log_level level, const char *text)
{
	(void)level;
	(void)snprintf(last, sizeof(last), "%s", text);
}

/* test_one_line - CR, LF, ESC and DEL in an argument become '?' */
START_TEST(test_one_line)
{
	log_info("helo=<%s>", "a\r\nb\033c\177d\te");
	ck_assert_str_eq(last, "helo=<a??b?c?d?e>");
	log_warn("x%sy", "\n");
	ck_assert_str_eq(last, "warning: x?y");
}

END_TEST

/* test_escape - brackets, backslash, control and 8-bit bytes */
START_TEST(test_escape)
{
	struct strbuf *sb = strbuf_alloc(16);

	log_escape(sb, "a[1.2.3.4]\\\n\xc3", 13);
	ck_assert_str_eq(strbuf_str(sb), "a\\1331.2.3.4\\135\\134\\012\\303");
	strbuf_free(&sb);
	ck_assert_str_eq(log_esc("x]: y"), "x\\135: y");
	ck_assert_str_eq(log_esc(NULL), "");
}

END_TEST

/* test_esc_slots - LOG_ESC_SLOTS results are usable in one call */
START_TEST(test_esc_slots)
{
	log_info("%s %s %s %s", log_esc("[a]"), log_esc("b"), log_esc("c"),
		 log_esc("[d]"));
	ck_assert_str_eq(last, "\\133a\\135 b c \\133d\\135");
}

END_TEST

static Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_one_line);
	tcase_add_test(tc, test_escape);
	tcase_add_test(tc, test_esc_slots);
	suite_add_tcase(s, tc);
	return s;
}

/* main - run the suite */
int main(void)
{
	SRunner *sr = srunner_create(log_suite());
	int failed;

	log_init("postern", "test_log");
	log_set_syslog(false);
	log_set_capture(capture);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
