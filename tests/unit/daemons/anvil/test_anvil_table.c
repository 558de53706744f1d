/*
 * NAME
 *	test_anvil_table - unit tests for daemons/anvil/anvil_table.c
 * SYNOPSIS
 *	build/unit/daemons/anvil/test_anvil_table
 * DESCRIPTION
 *	The counting table with the clock in the test's hands: counts per
 *	(service, address), connections open now versus per time unit,
 *	the unit starting over, AUTH commands and failures, expiry of idle
 *	entries, and the size cap (least recently used idle entry goes
 *	first; entries with open connections never go).
 * DIAGNOSTICS
 *	Check's report; exit status 1 when a test fails.
 */
#include "sys_defs.h"

#include <check.h>

#include "log.h"
#include "../../../../daemons/anvil/anvil.h"

#define UNIT 60000 /* ms */

START_TEST(test_counts_per_service_and_address)
{
	struct anvil_table *t = anvil_table_create(100, UNIT, 42);
	struct anvil_entry *a, *b, *c;
	int i;

	a = anvil_table_get(t, "smtp", "192.0.2.1", 0);
	b = anvil_table_get(t, "smtp", "192.0.2.2", 0);
	c = anvil_table_get(t, "submission", "192.0.2.1", 0);
	ck_assert_ptr_nonnull(a);
	ck_assert(a != b && a != c && b != c);
	for (i = 0; i < 3; i++)
		anvil_table_connect(a);
	anvil_table_connect(c);
	ck_assert_ptr_eq(anvil_table_get(t, "smtp", "192.0.2.1", 10), a);
	ck_assert_int_eq(a->count, 3);
	ck_assert_int_eq(a->rate, 3);
	ck_assert_int_eq(b->count, 0);
	ck_assert_int_eq(c->count, 1);
	anvil_table_disconnect(t, a, 20);
	ck_assert_int_eq(a->count, 2);
	ck_assert_int_eq(a->rate, 3);     /* the rate counts arrivals */
	anvil_table_disconnect(t, b, 20); /* never below zero */
	ck_assert_int_eq(b->count, 0);
	ck_assert_uint_eq(anvil_table_size(t), 3);
	ck_assert_ptr_null(anvil_table_find(t, "smtp", "192.0.2.3", 30));
	ck_assert_uint_eq(anvil_table_size(t), 3);
	anvil_table_free(&t);
	ck_assert_ptr_null(t);
}

END_TEST

START_TEST(test_unit_starts_over)
{
	struct anvil_table *t = anvil_table_create(100, UNIT, 1);
	struct anvil_entry *e = anvil_table_get(t, "smtp", "192.0.2.1", 1000);

	anvil_table_connect(e);
	anvil_table_connect(e);
	anvil_table_auth(e);
	anvil_table_auth_failure(e);
	anvil_table_auth_failure(e);
	/* Still inside the unit: nothing is reset. */
	e = anvil_table_find(t, "smtp", "192.0.2.1", 1000 + UNIT - 1);
	ck_assert_int_eq(e->rate, 2);
	ck_assert_int_eq(e->auth_rate, 1);
	ck_assert_int_eq(e->failures, 2);
	/* The unit ran out: per-unit counts start over, open ones stay. */
	e = anvil_table_find(t, "smtp", "192.0.2.1", 1000 + UNIT);
	ck_assert_int_eq(e->rate, 0);
	ck_assert_int_eq(e->auth_rate, 0);
	ck_assert_int_eq(e->failures, 0);
	ck_assert_int_eq(e->count, 2);
	/* The new unit began at that event. */
	anvil_table_connect(e);
	e = anvil_table_find(t, "smtp", "192.0.2.1", 1000 + 2 * UNIT - 1);
	ck_assert_int_eq(e->rate, 1);
	anvil_table_free(&t);
}

END_TEST

START_TEST(test_expire)
{
	struct anvil_table *t = anvil_table_create(100, UNIT, 7);
	struct anvil_entry *busy = anvil_table_get(t, "smtp", "192.0.2.1", 0);
	struct anvil_entry *late;

	anvil_table_connect(busy);
	(void)anvil_table_get(t, "smtp", "192.0.2.2", 0);
	late = anvil_table_get(t, "smtp", "192.0.2.3", UNIT / 2);
	anvil_table_auth_failure(late);
	ck_assert_uint_eq(anvil_table_expire(t, UNIT - 1), 0);
	/* .2 is idle for a unit; .1 has a connection; .3 is recent. */
	ck_assert_uint_eq(anvil_table_expire(t, UNIT), 1);
	ck_assert_ptr_null(anvil_table_find(t, "smtp", "192.0.2.2", UNIT));
	ck_assert_uint_eq(anvil_table_size(t), 2);
	/* Once disconnected and idle for a unit, .1 goes too. */
	anvil_table_disconnect(t, busy, UNIT);
	ck_assert_uint_eq(anvil_table_expire(t, 2 * UNIT - 1), 1); /* .3 */
	ck_assert_uint_eq(anvil_table_size(t), 1);
	ck_assert_uint_eq(anvil_table_expire(t, 2 * UNIT), 1);
	ck_assert_uint_eq(anvil_table_size(t), 0);
	anvil_table_free(&t);
}

END_TEST

START_TEST(test_cap)
{
	struct anvil_table *t = anvil_table_create(3, UNIT, 9);
	struct anvil_entry *a, *b, *c, *d;

	a = anvil_table_get(t, "smtp", "192.0.2.1", 0);
	b = anvil_table_get(t, "smtp", "192.0.2.2", 1);
	c = anvil_table_get(t, "smtp", "192.0.2.3", 2);
	ck_assert_ptr_nonnull(b);
	anvil_table_connect(a);
	anvil_table_connect(c);
	/* Full: b, the only entry without connections, makes room. */
	d = anvil_table_get(t, "smtp", "192.0.2.4", 3);
	ck_assert_ptr_nonnull(d);
	ck_assert_uint_eq(anvil_table_size(t), 3);
	ck_assert_ptr_null(anvil_table_find(t, "smtp", "192.0.2.2", 4));
	ck_assert_ptr_eq(anvil_table_find(t, "smtp", "192.0.2.1", 4), a);
	ck_assert_int_eq(a->count, 1);
	/* Every entry has a connection: nothing can be made. */
	anvil_table_connect(d);
	ck_assert_ptr_null(anvil_table_get(t, "smtp", "192.0.2.5", 5));
	ck_assert_uint_eq(anvil_table_size(t), 3);
	/* The least recently used idle entry goes first. */
	anvil_table_disconnect(t, c, 6);
	anvil_table_disconnect(t, a, 7);
	ck_assert_ptr_nonnull(anvil_table_get(t, "smtp", "192.0.2.5", 8));
	ck_assert_ptr_null(anvil_table_find(t, "smtp", "192.0.2.3", 9));
	ck_assert_ptr_eq(anvil_table_find(t, "smtp", "192.0.2.1", 9), a);
	anvil_table_free(&t);
}

END_TEST

START_TEST(test_many_entries)
{
	struct anvil_table *t = anvil_table_create(1000, UNIT, 3);
	char addr[64];
	int i;

	for (i = 0; i < 5000; i++) {
		struct anvil_entry *e;

		snprintf(addr, sizeof(addr), "2001:db8::%x", i);
		e = anvil_table_get(t, "smtp", addr, i);
		ck_assert_ptr_nonnull(e);
		anvil_table_connect(e);
		anvil_table_disconnect(t, e, i);
	}
	ck_assert_uint_eq(anvil_table_size(t), 1000);
	/* The newest 1000 are the ones kept. */
	ck_assert_ptr_nonnull(
	    anvil_table_find(t, "smtp", "2001:db8::1387", 5000));
	ck_assert_ptr_null(anvil_table_find(t, "smtp", "2001:db8::f9f", 5000));
	ck_assert_ptr_nonnull(
	    anvil_table_find(t, "smtp", "2001:db8::fa0", 5000));
	anvil_table_free(&t);
}

END_TEST

/* anvil_table_suite - every test */
static Suite *anvil_table_suite(void)
{
	Suite *s = suite_create("anvil_table");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_counts_per_service_and_address);
	tcase_add_test(tc, test_unit_starts_over);
	tcase_add_test(tc, test_expire);
	tcase_add_test(tc, test_cap);
	tcase_add_test(tc, test_many_entries);
	suite_add_tcase(s, tc);
	return s;
}

/* main - run the suite */
int main(void)
{
	SRunner *sr = srunner_create(anvil_table_suite());
	int failed;

	log_init("postern", "test_anvil_table");
	log_set_syslog(false);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
