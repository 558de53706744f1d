/*
 * NAME
 *	test_qmgr_util - unit tests for daemons/qmgr/qmgr_util.c
 * SYNOPSIS
 *	build/unit/daemons/qmgr/test_qmgr_util
 * DESCRIPTION
 *	The backoff schedule (doubling from minimal_backoff_time, capped
 *	at maximal_backoff_time, sane when the bounds are odd), the
 *	delay= formatting, message expiry, the log escaping of agents'
 *	reasons, and the domain of an address.
 * DIAGNOSTICS
 *	Check's report; exit status 1 when a test fails.
 */
#include "sys_defs.h"

#include <check.h>

#include "log.h"
#include "strbuf.h"
#include "../../../../daemons/qmgr/qmgr.h"

START_TEST(test_backoff)
{
	static const struct {
		long long min, max;
		unsigned attempts;
		long long want;
	} cases[] = {
	    {300, 4000, 0, 300},   {300, 4000, 1, 300},
	    {300, 4000, 2, 600},   {300, 4000, 3, 1200},
	    {300, 4000, 4, 2400},  {300, 4000, 5, 4000},
	    {300, 4000, 50, 4000}, {300, 4000, 4000000000u, 4000},
	    {1, 2, 1, 1},          {1, 2, 2, 2},
	    {1, 2, 9, 2},          {60, 30, 3, 60},
	};

	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		long long got =
		    qmgr_backoff(cases[i].min, cases[i].max, cases[i].attempts);

		ck_assert_msg(got == cases[i].want,
			      "case %zu: backoff(%lld, %lld, %u) = %lld, want "
			      "%lld",
			      i, cases[i].min, cases[i].max, cases[i].attempts,
			      got, cases[i].want);
	}
}

END_TEST

START_TEST(test_fmt_delay)
{
	static const struct {
		double in;
		const char *want;
	} cases[] = {
	    {0, "0"},       {0.004, "0"}, {0.01, "0.01"}, {0.256, "0.26"},
	    {9.99, "9.99"}, {10.4, "10"}, {3600, "3600"}, {-1, "0"},
	};

	char buf[32];
	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		qmgr_fmt_delay(buf, sizeof(buf), cases[i].in);
		ck_assert_msg(strcmp(buf, cases[i].want) == 0,
			      "case %zu: got %s want %s", i, buf,
			      cases[i].want);
	}
}

END_TEST

START_TEST(test_expired)
{
	ck_assert(!qmgr_expired(1000, 1000 + 99, 100));
	ck_assert(qmgr_expired(1000, 1000 + 100, 100));
	ck_assert(qmgr_expired(1000, 1000, 0));
	ck_assert(!qmgr_expired(1000, 1000 + 5 * 86400 - 1, 5 * 86400));
}

END_TEST

START_TEST(test_escape)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {"host mx[192.0.2.1] said: 550 no",
	     "host mx[192.0.2.1] said: 550 no"},
	    {"a\nb", "a\\012b"},
	    {"tab\there", "tab\\011here"},
	    {"back\\slash", "back\\134slash"},
	    {"\xc3\xa9", "\\303\\251"},
	    {"", ""},
	};
	struct strbuf *sb = strbuf_alloc(16);
	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		strbuf_reset(sb);
		qmgr_escape(sb, cases[i].in);
		ck_assert_msg(strcmp(sb->data, cases[i].want) == 0,
			      "case %zu: got %s want %s", i, sb->data,
			      cases[i].want);
	}
	strbuf_free(&sb);
}

END_TEST

START_TEST(test_domain_of)
{
	ck_assert_str_eq(qmgr_domain_of("a@b.example"), "b.example");
	ck_assert_str_eq(qmgr_domain_of("\"x@y\"@c.example"), "c.example");
	ck_assert_str_eq(qmgr_domain_of("postmaster"), "");
}

END_TEST

START_TEST(test_notify)
{
	static const struct {
		const char *notify, *what;
		bool want;
	} cases[] = {
	    {"", "FAILURE", true},
	    {NULL, "DELAY", true},
	    {"NEVER", "FAILURE", false},
	    {"SUCCESS", "FAILURE", false},
	    {"SUCCESS,FAILURE", "FAILURE", true},
	    {"failure,delay", "DELAY", true},
	    {"FAILURE", "DELAY", false},
	    {"FAILUREX", "FAILURE", false},
	};

	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++)
		ck_assert_msg(qmgr_notify_wants(cases[i].notify,
						cases[i].what) == cases[i].want,
			      "case %zu", i);
}

END_TEST

/* qmgr_util_suite - every test */
static Suite *qmgr_util_suite(void)
{
	Suite *s = suite_create("qmgr_util");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_backoff);
	tcase_add_test(tc, test_fmt_delay);
	tcase_add_test(tc, test_expired);
	tcase_add_test(tc, test_escape);
	tcase_add_test(tc, test_domain_of);
	tcase_add_test(tc, test_notify);
	suite_add_tcase(s, tc);
	return s;
}

/* main - run the suite */
int main(void)
{
	SRunner *sr = srunner_create(qmgr_util_suite());
	int failed;

	log_init("postern", "test_qmgr_util");
	log_set_syslog(false);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
