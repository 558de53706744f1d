/*
 * NAME
 *	test_proxyd_conf - unit tests for proxyd's templates and cache
 * SYNOPSIS
 *	build/unit/daemons/proxyd/test_proxyd_conf
 * DESCRIPTION
 *	Query templates become bind parameters ($1, $2, ...) in order of
 *	first use, quoted and unknown variables are refused; keys expand
 *	into the parts each template needs (with recipient_delimiter and
 *	Postfix's suppression rules); proxyd.conf parsing; the TTL cache.
 * DIAGNOSTICS
 *	Check's report; exit status 1 when a test fails.
 */
#include "sys_defs.h"

#include <check.h>

#include "log.h"
#include "lookup_clnt.h"
#include "strbuf.h"
#include "xalloc.h"
#include "../../../../daemons/proxyd/proxyd.h"

struct compile_case {
	const char *tmpl;
	bool quota;
	const char *want_sql; /* NULL: refused */
	int want_nparams;
};

static const struct compile_case compile_cases[] = {
    {"SELECT a FROM t WHERE k = %s", false, "SELECT a FROM t WHERE k = $1", 1},
    {"SELECT %u || '@' || x FROM t WHERE d = %d AND k = %s AND l = %u", false,
     "SELECT $1 || '@' || x FROM t WHERE d = $2 AND k = $3 AND l = $1", 3},
    {"SELECT 1 WHERE a = %b AND b = '100%%'", false,
     "SELECT 1 WHERE a = $1 AND b = '100%'", 1},
    {"SELECT 1 WHERE a = '%s'", false, NULL, 0},
    {"SELECT 1 WHERE a = %x", false, NULL, 0},
    {"SELECT 1 WHERE a = 'unbalanced", false, NULL, 0},
    {"UPDATE q SET b = %B, m = %M WHERE u = %s", false, NULL, 0},
    {"UPDATE q SET b = %B, m = %M WHERE u = %s", true,
     "UPDATE q SET b = $1, m = $2 WHERE u = $3", 3},
    {"SELECT 1", false, "SELECT 1", 0},
};

/* test_compile - templates to SQL with $n */
START_TEST(test_compile)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(compile_cases); i++) {
		const struct compile_case *c = &compile_cases[i];
		struct proxyd_query q;
		const char *err = NULL;
		int r;

		memset(&q, 0, sizeof(q));
		r = proxyd_template_compile(&q, c->tmpl, c->quota, &err);
		if (c->want_sql == NULL) {
			ck_assert_msg(r < 0, "case %zu accepted: %s", i, q.sql);
			ck_assert_ptr_nonnull(err);
		} else {
			ck_assert_msg(r == 0, "case %zu refused: %s", i, err);
			ck_assert_str_eq(q.sql, c->want_sql);
			ck_assert_int_eq(q.nparams, c->want_nparams);
		}
		free(q.sql);
	}
}

END_TEST

struct expand_case {
	const char *tmpl;
	const char *key;
	const char *delim;
	const char *want; /* params joined by '|'; NULL: suppressed */
};

static const struct expand_case expand_cases[] = {
    {"%s %u %d %b", "user+tag@example.com", "+",
     "user+tag@example.com|user+tag|example.com|user@example.com"},
    {"%b", "user-tag@example.com", "+-", "user@example.com"},
    {"%b", "user@example.com", "+", "user@example.com"},
    {"%b", "+tag@example.com", "+", "+tag@example.com"},
    {"%b", "user+tag@example.com", "", "user+tag@example.com"},
    {"%b", "a+b+c@x", "+", "a@x"},
    {"%s", "example.com", "+", "example.com"},
    {"%u", "nodomain", "+", "nodomain"},
    {"%d", "nodomain", "+", NULL},
    {"%d", "user@", "+", NULL},
    {"%u %d", "@example.com", "+", NULL},
    {"%s", "@example.com", "+", "@example.com"},
    {"%s", "x'; DROP TABLE mailbox; --@e.com", "+",
     "x'; DROP TABLE mailbox; --@e.com"},
};

/* test_expand - keys into bind values */
START_TEST(test_expand)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(expand_cases); i++) {
		const struct expand_case *c = &expand_cases[i];
		char *params[PROXYD_PARAMS_MAX] = {NULL};
		struct proxyd_query q;
		struct strbuf *got = strbuf_alloc(64);
		const char *err;
		int r, k;

		memset(&q, 0, sizeof(q));
		ck_assert_int_eq(
		    proxyd_template_compile(&q, c->tmpl, false, &err), 0);
		r = proxyd_expand(&q, c->key, c->delim, 0, 0, params);
		for (k = 0; k < q.nparams && r; k++)
			strbuf_printf_append(got, "%s%s", k ? "|" : "",
					     params[k]);
		if (c->want == NULL)
			ck_assert_msg(r == 0, "case %zu not suppressed", i);
		else
			ck_assert_msg(r == 1 && strcmp(got->data, c->want) == 0,
				      "case %zu: got %s, want %s", i, got->data,
				      c->want);
		for (k = 0; k < PROXYD_PARAMS_MAX; k++)
			free(params[k]);
		free(q.sql);
		strbuf_free(&got);
	}
}

END_TEST

/* test_conf - proxyd.conf parsing and its errors */
START_TEST(test_conf)
{
	static const char good[] = "conninfo = dbname=x\n"
				   "cache_ttl = 2m\n"
				   "negative_cache_ttl = 0\n"
				   "query_timeout = 3\n"
				   "quota_batch_ms = 0\n"
				   "a_query = SELECT 1 WHERE x = %s\n"
				   "b_query = SELECT 2\n"
				   "\tWHERE y = %d\n";
	static const char minimal[] = "conninfo = x\n";
	static const char batch_too_long[] =
	    "conninfo = x\nquota_batch_ms = 10001\n";
	static const char *const bad[] = {
	    "a_query = SELECT 1\n",                            /* no conninfo */
	    "conninfo = x\nbogus = 1\n",                       /* unknown */
	    "conninfo = x\na_query = SELECT '%s'\n",           /* quoted */
	    "conninfo = x\na_query = S\na_query = T\n",        /* twice */
	    "conninfo = x\nA-b_query = S\n",                   /* name */
	    "conninfo = x\ndefault_password_scheme = PLAIN\n", /* scheme */
	    "conninfo = x\nconnections = 0\n",                 /* bounds */
	    batch_too_long,                                    /* bounds */
	    "conninfo = x\nquota_batch_ms = 5s\n", /* milliseconds, a number */
	};
	struct proxyd_conf conf;
	struct strbuf *why = strbuf_alloc(128);
	size_t i;

	memset(&conf, 0, sizeof(conf));
	ck_assert_msg(proxyd_conf_parse(&conf, "proxyd.conf", good,
					sizeof(good) - 1, why) == 0,
		      "%s", why->data);
	ck_assert_int_eq(conf.ntables, 2);
	ck_assert_int_eq(conf.cache_ttl, 120);
	ck_assert_int_eq(conf.negative_cache_ttl, 0);
	ck_assert_int_eq(conf.query_timeout, 3000);
	ck_assert_int_eq(conf.quota_batch_ms, 0);
	ck_assert_ptr_nonnull(proxyd_conf_table(&conf, "b"));
	ck_assert_ptr_null(proxyd_conf_table(&conf, "password"));
	ck_assert_ptr_null(proxyd_conf_table(&conf, "c"));
	ck_assert(proxyd_conf_table(&conf, "b")->needs_domain);
	ck_assert_int_eq(conf.password.nparams, 1);
	proxyd_conf_release(&conf);
	memset(&conf, 0, sizeof(conf));
	ck_assert(proxyd_conf_parse(&conf, "proxyd.conf", minimal,
				    sizeof(minimal) - 1, why) == 0);
	ck_assert_int_eq(conf.quota_batch_ms, 10); /* the default */
	ck_assert(conf.quota.batched);
	proxyd_conf_release(&conf);
	/* An error names the file, the line and the setting. */
	memset(&conf, 0, sizeof(conf));
	ck_assert(proxyd_conf_parse(&conf, "proxyd.conf", batch_too_long,
				    sizeof(batch_too_long) - 1, why) < 0);
	ck_assert_str_eq(why->data, "proxyd.conf, line 2: quota_batch_ms: "
				    "value above the maximum");
	proxyd_conf_release(&conf);
	for (i = 0; i < ARRAY_LEN(bad); i++) {
		memset(&conf, 0, sizeof(conf));
		strbuf_reset(why);
		ck_assert_msg(proxyd_conf_parse(&conf, "proxyd.conf", bad[i],
						strlen(bad[i]), why) < 0,
			      "bad case %zu accepted", i);
		ck_assert(why->len > 0);
		proxyd_conf_release(&conf);
	}
	strbuf_free(&why);
}

END_TEST

/* test_cache - TTLs, tables kept apart, bounded size */
START_TEST(test_cache)
{
	struct proxyd_cache *c = proxyd_cache_create(4);
	const char *value;
	int status;
	char key[16];
	int i;

	proxyd_cache_put(c, 0, "a@x", LOOKUP_OK, "v1", 1000, 0);
	proxyd_cache_put(c, 1, "a@x", LOOKUP_NOKEY, NULL, 500, 0);
	ck_assert(proxyd_cache_get(c, 0, "a@x", 999, &status, &value));
	ck_assert_int_eq(status, LOOKUP_OK);
	ck_assert_str_eq(value, "v1");
	ck_assert(proxyd_cache_get(c, 1, "a@x", 10, &status, &value));
	ck_assert_int_eq(status, LOOKUP_NOKEY);
	ck_assert(!proxyd_cache_get(c, 1, "a@x", 500, &status, &value));
	ck_assert(!proxyd_cache_get(c, 0, "a@x", 1000, &status, &value));
	ck_assert(!proxyd_cache_get(c, 0, "b@x", 0, &status, &value));
	ck_assert_int_eq(proxyd_cache_count(c), 0);
	for (i = 0; i < 10; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		proxyd_cache_put(c, 0, key, LOOKUP_OK, "v", 1000, 0);
		ck_assert(proxyd_cache_count(c) <= 4);
	}
	ck_assert(proxyd_cache_get(c, 0, "k9", 1, &status, &value));
	proxyd_cache_del(c, 0, "k9");
	ck_assert(!proxyd_cache_get(c, 0, "k9", 1, &status, &value));
	proxyd_cache_free(&c);
	ck_assert_ptr_null(c);
}

END_TEST

/* proxyd_suite - the suite */
static Suite *proxyd_suite(void)
{
	Suite *s = suite_create("proxyd_conf");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_compile);
	tcase_add_test(tc, test_expand);
	tcase_add_test(tc, test_conf);
	tcase_add_test(tc, test_cache);
	suite_add_tcase(s, tc);
	return s;
}

/* main - run the suite */
int main(void)
{
	SRunner *sr = srunner_create(proxyd_suite());
	int failed;

	log_init("postern", "test_proxyd_conf");
	log_set_syslog(false);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
