/*
 * NAME
 *	test_log - unit tests for lib/log.c
 * SYNOPSIS
 *	build/unit/lib/test_log
 * DESCRIPTION
 *	A formatted line never holds a control character (whatever the
 *	arguments), prefixes of warnings, log_escape() and log_esc()
 *	escape brackets, backslashes and non-printable bytes, and
 *	log_esc() results stay valid for LOG_ESC_SLOTS calls; after the
 *	maillog file was renamed, log_reopen() creates a new one and later
 *	lines go there; a symbolic link is never followed.
 * DIAGNOSTICS
 *	Check's report; exit status 1 when a test fails.
 */
#include "sys_defs.h"

#include <check.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* file_has - does the file at path contain text */
static bool file_has(const char *path, const char *text)
{
	char buf[4096];
	FILE *fp = fopen(path, "r");
	size_t n;

	if (fp == NULL)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	(void)fclose(fp);
	return strstr(buf, text) != NULL;
}

/* test_reopen - rotation: rename, reopen, the next line is in the new
 * file; a symbolic link in place of the file is refused */
START_TEST(test_reopen)
{
	char dir[] = "/tmp/test_log.XXXXXX";
	struct strbuf *path = strbuf_alloc(64), *old = strbuf_alloc(64);
	struct strbuf *two = strbuf_alloc(64);

	ck_assert_ptr_nonnull(mkdtemp(dir));
	strbuf_printf(path, "%s/maillog", dir);
	strbuf_printf(old, "%s/maillog.1", dir);
	strbuf_printf(two, "%s/maillog.2", dir);
	ck_assert_int_eq(log_open_file(strbuf_str(path)), 0);
	log_info("before rotation");
	ck_assert_int_eq(rename(strbuf_str(path), strbuf_str(old)), 0);
	log_info("after rename");
	ck_assert_int_eq(log_reopen(), 0);
	log_info("after reopen");
	ck_assert(file_has(strbuf_str(old), "before rotation"));
	ck_assert(file_has(strbuf_str(old), "after rename"));
	ck_assert(!file_has(strbuf_str(old), "after reopen"));
	ck_assert(file_has(strbuf_str(path), "after reopen"));
	ck_assert(!file_has(strbuf_str(path), "rename"));

	/* The file in use moves to .2; a link to .1 takes its name. */
	ck_assert_int_eq(rename(strbuf_str(path), strbuf_str(two)), 0);
	ck_assert_int_eq(symlink(strbuf_str(old), strbuf_str(path)), 0);
	ck_assert_int_eq(log_reopen(), -1);
	log_info("after refused reopen");
	ck_assert(file_has(strbuf_str(two), "after refused reopen"));
	ck_assert(!file_has(strbuf_str(old), "after refused reopen"));

	(void)unlink(strbuf_str(path));
	(void)unlink(strbuf_str(old));
	(void)unlink(strbuf_str(two));
	(void)rmdir(dir);
	strbuf_free(&path);
	strbuf_free(&old);
	strbuf_free(&two);
}

END_TEST

static Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_one_line);
	tcase_add_test(tc, test_escape);
	tcase_add_test(tc, test_esc_slots);
	tcase_add_test(tc, test_reopen);
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
