/*
 * NAME
 *	test_lookup_limits - unit tests for lib/lookup_limits.c
 * SYNOPSIS
 *	build/unit/lib/test_lookup_limits
 * DESCRIPTION
 *	The values of virtual_mailbox_limits (four numbers) and
 *	virtual_domain_limits (two): accepted forms, and every malformed
 *	one refused (wrong count, empty or signed fields, garbage,
 *	overflow) without touching the result.
 * DIAGNOSTICS
 *	Check's report; exit status 1 when a test fails.
 */
#include "sys_defs.h"

#include <check.h>

#include "log.h"
#include "lookup_clnt.h"

/* test_mailbox - quota_bytes,quota_messages,used_bytes,used_messages */
START_TEST(test_mailbox)
{
	static const char *const bad[] = {
	    "",
	    "1,2,3",
	    "1,2,3,4,5",
	    "1,2,,4",
	    ",1,2,3",
	    "1,2,3,",
	    "-1,2,3,4",
	    "1,2,3,x",
	    "1 ,2,3,4",
	    "1,2,3,4\n",
	    "99999999999999999999,0,0,0",
	};
	struct lookup_limits lim = {7, 7, 7, 7};
	size_t i;

	ck_assert_int_eq(lookup_parse_limits("1048576,100,5000,3", &lim), 0);
	ck_assert_int_eq(lim.quota_bytes, 1048576);
	ck_assert_int_eq(lim.quota_messages, 100);
	ck_assert_int_eq(lim.used_bytes, 5000);
	ck_assert_int_eq(lim.used_messages, 3);
	ck_assert_int_eq(lookup_parse_limits("0,0,0,0", &lim), 0);
	ck_assert_int_eq(lim.quota_bytes + lim.used_messages, 0);
	for (i = 0; i < ARRAY_LEN(bad); i++) {
		struct lookup_limits keep = {7, 7, 7, 7};

		ck_assert_msg(lookup_parse_limits(bad[i], &keep) == -1,
			      "accepted \"%s\"", bad[i]);
		ck_assert_int_eq(keep.quota_bytes, 7);
	}
}

END_TEST

/* test_domain - quota_bytes,used_bytes */
START_TEST(test_domain)
{
	static const char *const bad[] = {"",   "1",   "1,2,3", "1,",
					  ",2", "a,b", "1,-2",  "1,2 "};
	struct lookup_domain_limits dom = {7, 7};
	size_t i;

	ck_assert_int_eq(lookup_parse_domain_limits("1073741824,12345", &dom),
			 0);
	ck_assert_int_eq(dom.quota_bytes, 1073741824LL);
	ck_assert_int_eq(dom.used_bytes, 12345);
	for (i = 0; i < ARRAY_LEN(bad); i++) {
		struct lookup_domain_limits keep = {7, 7};

		ck_assert_msg(lookup_parse_domain_limits(bad[i], &keep) == -1,
			      "accepted \"%s\"", bad[i]);
		ck_assert_int_eq(keep.used_bytes, 7);
	}
}

END_TEST

/* lookup_limits_suite - every test */
static Suite *lookup_limits_suite(void)
{
	Suite *s = suite_create("lookup_limits");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_mailbox);
	tcase_add_test(tc, test_domain);
	suite_add_tcase(s, tc);
	return s;
}

/* main - run the suite */
int main(void)
{
	SRunner *sr = srunner_create(lookup_limits_suite());
	int failed;

	log_init("postern", "test_lookup_limits");
	log_set_syslog(false);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
