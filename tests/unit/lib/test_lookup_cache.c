/*
 * NAME
 *	test_lookup_cache - unit tests for lib/lookup_cache.c
 * SYNOPSIS
 *	build/unit/lib/test_lookup_cache
 * DESCRIPTION
 *	lookup_query() is faked here (it counts its calls and answers by
 *	key), so the tests see exactly which lookups reach proxyd: an
 *	answer within its TTL is reused, per table and key; failures are
 *	kept only with a failure TTL, and then say they were cached; a
 *	TTL of 0 keeps nothing; an answer expires.
 * DIAGNOSTICS
 *	Check's report; exit status 1 when a test fails.
 */
#include "sys_defs.h"

#include <check.h>
#include <time.h>

#include "log.h"
#include "lookup_cache.h"
#include "lookup_clnt.h"
#include "strbuf.h"

static int fake_calls;

/* lookup_query - fake: "local.example" found, "down.example" fails */
int lookup_query(struct lookup_clnt *clnt, const char *table, const char *key,
		 struct strbuf *value, const char **error_r)
{
	(void)clnt;
	(void)table;
	fake_calls++;
	strbuf_reset(value);
	if (strcmp(key, "down.example") == 0) {
		*error_r = "proxyd is down";
		return LOOKUP_RETRY;
	}
	return strcmp(key, "local.example") == 0 ? LOOKUP_OK : LOOKUP_NOKEY;
}

/* ask - one cached lookup in the domains table */
static int ask(struct lookup_cache *cache, const char *key, const char **err)
{
	return lookup_cache_query(cache, NULL, LOOKUP_TABLE_DOMAINS, key, err);
}

/* test_reused - found and not found are asked once each */
START_TEST(test_reused)
{
	struct lookup_cache *cache = lookup_cache_create(60, 0);
	const char *err = NULL;
	int i;

	fake_calls = 0;
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(ask(cache, "local.example", &err), LOOKUP_OK);
		ck_assert_int_eq(ask(cache, "other.example", &err),
				 LOOKUP_NOKEY);
	}
	ck_assert_int_eq(fake_calls, 2);
	/* Another table with the same key is another question. */
	ck_assert_int_eq(lookup_cache_query(cache, NULL, LOOKUP_TABLE_MAILBOXES,
					    "local.example", &err),
			 LOOKUP_OK);
	ck_assert_int_eq(fake_calls, 3);
	lookup_cache_free(&cache);
	ck_assert_ptr_null(cache);
}

END_TEST

/* test_failures - kept only with a failure TTL, and marked cached */
START_TEST(test_failures)
{
	struct lookup_cache *never = lookup_cache_create(60, 0);
	struct lookup_cache *briefly = lookup_cache_create(60, 60);
	const char *err = NULL;

	fake_calls = 0;
	ck_assert_int_eq(ask(never, "down.example", &err), LOOKUP_RETRY);
	ck_assert_str_eq(err, "proxyd is down");
	ck_assert_int_eq(ask(never, "down.example", &err), LOOKUP_RETRY);
	ck_assert_int_eq(fake_calls, 2);

	ck_assert_int_eq(ask(briefly, "down.example", &err), LOOKUP_RETRY);
	ck_assert_int_eq(ask(briefly, "down.example", &err), LOOKUP_RETRY);
	ck_assert_str_eq(err, "temporary lookup failure (cached)");
	ck_assert_int_eq(fake_calls, 3);
	lookup_cache_free(&never);
	lookup_cache_free(&briefly);
}

END_TEST

/* test_expiry - a TTL of 0 keeps nothing; an answer expires */
START_TEST(test_expiry)
{
	struct lookup_cache *none = lookup_cache_create(0, 0);
	struct lookup_cache *short_ttl = lookup_cache_create(1, 0);
	const struct timespec past_ttl = {1, 100 * 1000 * 1000};
	const char *err = NULL;

	fake_calls = 0;
	ck_assert_int_eq(ask(none, "local.example", &err), LOOKUP_OK);
	ck_assert_int_eq(ask(none, "local.example", &err), LOOKUP_OK);
	ck_assert_int_eq(fake_calls, 2);

	ck_assert_int_eq(ask(short_ttl, "local.example", &err), LOOKUP_OK);
	ck_assert_int_eq(ask(short_ttl, "local.example", &err), LOOKUP_OK);
	ck_assert_int_eq(fake_calls, 3);
	ck_assert_int_eq(nanosleep(&past_ttl, NULL), 0);
	ck_assert_int_eq(ask(short_ttl, "local.example", &err), LOOKUP_OK);
	ck_assert_int_eq(fake_calls, 4);
	lookup_cache_free(&none);
	lookup_cache_free(&short_ttl);
}

END_TEST

static Suite *lookup_cache_suite(void)
{
	Suite *s = suite_create("lookup_cache");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_reused);
	tcase_add_test(tc, test_failures);
	tcase_add_test(tc, test_expiry);
	suite_add_tcase(s, tc);
	return s;
}

/* main - run the suite */
int main(void)
{
	SRunner *sr = srunner_create(lookup_cache_suite());
	int failed;

	log_init("postern", "test_lookup_cache");
	log_set_syslog(false);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
