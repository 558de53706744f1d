/*
 * NAME
 *	test_cleanup_alias - unit tests for virtual alias expansion
 * SYNOPSIS
 *	build/unit/daemons/cleanup/test_cleanup_alias
 * DESCRIPTION
 *	A table stands in for proxyd's virtual_alias_maps. Cases: no alias,
 *	a plain alias, recursion, a list, duplicates removed (also across
 *	original recipients and in other case), an alias that keeps a copy
 *	for itself, loops (dropped; a recipient left with nothing is
 *	refused 5.4.6), nesting past the depth limit and too many targets
 *	(retry), a lookup failure (retry), original recipient and DSN
 *	fields carried to every final address.
 * DIAGNOSTICS
 *	Check's report; exit status 1 when a test fails.
 */
#include "sys_defs.h"

#include <check.h>
#include <strings.h>

#include "strbuf.h"
#include "xalloc.h"

#include "../../../../daemons/cleanup/cleanup.h"

static const char *const table[][2] = {
    {"list@example.com", "a@example.com, b@example.com"},
    {"a@example.com", "a@example.com"}, /* a mailbox maps to itself */
    {"fwd@example.com", "list@example.com,c@example.net"},
    {"self@example.com", "self@example.com, a@example.com"},
    {"loop1@example.com", "loop2@example.com"},
    {"loop2@example.com", "loop1@example.com"},
    {"halfloop@example.com", "loop3@example.com, d@example.com"},
    {"loop3@example.com", "halfloop@example.com"},
    {"dup@example.com", "A@Example.com, a@example.com, list@example.com"},
    {"broken@example.com", "tempfail@example.com"},
    {"bad@example.com", "x y <z>"},
    {"empty@example.com", ""},
};

static int lookups;

/* fake_lookup - the table; "tempfail@..." fails; deepN -> deepN+1 */
static enum cleanup_lookup fake_lookup(void *ctx, const char *key,
				       struct strbuf *value,
				       const char **error_r)
{
	size_t i;
	int n;

	(void)ctx;
	lookups++;
	if (strcmp(key, "tempfail@example.com") == 0) {
		*error_r = "database down";
		return CLEANUP_LOOKUP_RETRY;
	}
	if (sscanf(key, "deep%d@example.com", &n) == 1) {
		strbuf_printf(value, "deep%d@example.com", n + 1);
		return CLEANUP_LOOKUP_OK;
	}
	if (sscanf(key, "wide%d@example.com", &n) == 1) {
		int k;

		strbuf_reset(value);
		for (k = 0; k < n; k++)
			strbuf_printf_append(value, "w%d@example.com,", k);
		return CLEANUP_LOOKUP_OK;
	}
	for (i = 0; i < ARRAY_LEN(table); i++) {
		if (strcasecmp(table[i][0], key) == 0) {
			strbuf_copy(value, table[i][1]);
			return CLEANUP_LOOKUP_OK;
		}
	}
	return CLEANUP_LOOKUP_NOKEY;
}

/* test_expand - table of expansions */
START_TEST(test_expand)
{
	static const struct {
		const char *in[3];
		enum cleanup_expand want_ret;
		const char *want_dsn;
		const char *want; /* final addresses, space separated */
	} cases[] = {
	    {{"user@example.org"}, CLEANUP_EXPAND_OK, NULL, "user@example.org"},
	    {{"list@example.com"},
	     CLEANUP_EXPAND_OK,
	     NULL,
	     "a@example.com b@example.com"},
	    {{"fwd@example.com"},
	     CLEANUP_EXPAND_OK,
	     NULL,
	     "a@example.com b@example.com c@example.net"},
	    {{"self@example.com"},
	     CLEANUP_EXPAND_OK,
	     NULL,
	     "self@example.com a@example.com"},
	    {{"dup@example.com"},
	     CLEANUP_EXPAND_OK,
	     NULL,
	     "A@Example.com b@example.com"},
	    {{"list@example.com", "a@example.com", "fwd@example.com"},
	     CLEANUP_EXPAND_OK,
	     NULL,
	     "a@example.com b@example.com c@example.net"},
	    {{"loop1@example.com"}, CLEANUP_EXPAND_FAIL, "5.4.6", ""},
	    {{"halfloop@example.com"},
	     CLEANUP_EXPAND_OK,
	     NULL,
	     "d@example.com"},
	    {{"broken@example.com"}, CLEANUP_EXPAND_RETRY, "4.3.0", ""},
	    {{"bad@example.com"}, CLEANUP_EXPAND_RETRY, "4.3.0", ""},
	    {{"deep0@example.com"}, CLEANUP_EXPAND_RETRY, "4.3.0", ""},
	    {{"wide1001@example.com"}, CLEANUP_EXPAND_RETRY, "4.3.0", ""},
	    {{"wide3@example.com"},
	     CLEANUP_EXPAND_OK,
	     NULL,
	     "w0@example.com w1@example.com w2@example.com"},
	    {{"empty@example.com"},
	     CLEANUP_EXPAND_OK,
	     NULL,
	     "empty@example.com"},
	};

	size_t i, j;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		struct cleanup_rcpt_list list;
		struct strbuf *why = strbuf_alloc(64);
		struct strbuf *got = strbuf_alloc(64);
		enum cleanup_expand ret = CLEANUP_EXPAND_OK;
		const char *dsn = NULL;

		memset(&list, 0, sizeof(list));
		for (j = 0; j < 3 && cases[i].in[j] && ret == CLEANUP_EXPAND_OK;
		     j++)
			ret = cleanup_expand(&list, cases[i].in[j], "", "NEVER",
					     fake_lookup, NULL,
					     "0123456789ABCDEF", why, &dsn);
		ck_assert_msg(ret == cases[i].want_ret,
			      "case %zu: got %d want %d (%s)", i, ret,
			      cases[i].want_ret, why->data);
		if (cases[i].want_dsn)
			ck_assert_str_eq(dsn, cases[i].want_dsn);
		if (ret == CLEANUP_EXPAND_OK) {
			for (j = 0; j < list.n; j++)
				strbuf_printf_append(got, "%s%s", j ? " " : "",
						     list.v[j].address);
			ck_assert_msg(strcmp(got->data, cases[i].want) == 0,
				      "case %zu: got [%s] want [%s]", i,
				      got->data, cases[i].want);
		}
		cleanup_rcpt_list_release(&list);
		strbuf_free(&why);
		strbuf_free(&got);
	}
}

END_TEST

/* test_original - every final address remembers where it came from */
START_TEST(test_original)
{
	struct cleanup_rcpt_list list;
	struct strbuf *why = strbuf_alloc(64);
	const char *dsn;

	memset(&list, 0, sizeof(list));
	ck_assert_int_eq(cleanup_expand(&list, "fwd@example.com",
					"rfc822;fwd@example.com", "SUCCESS",
					fake_lookup, NULL, "0123456789ABCDEF",
					why, &dsn),
			 CLEANUP_EXPAND_OK);
	ck_assert_uint_eq(list.n, 3);
	ck_assert_str_eq(list.v[2].address, "c@example.net");
	ck_assert_str_eq(list.v[2].original, "fwd@example.com");
	ck_assert_str_eq(list.v[2].orcpt, "rfc822;fwd@example.com");
	ck_assert_str_eq(list.v[2].notify, "SUCCESS");
	cleanup_rcpt_list_release(&list);
	strbuf_free(&why);
}

END_TEST

/* test_many - the duplicate set holds many addresses */
START_TEST(test_many)
{
	struct cleanup_rcpt_list list;
	char addr[64];
	int i;

	memset(&list, 0, sizeof(list));
	for (i = 0; i < 5000; i++) {
		(void)snprintf(addr, sizeof(addr), "u%d@example.com", i);
		ck_assert(cleanup_rcpt_add(&list, addr, NULL, NULL, NULL));
	}
	for (i = 0; i < 5000; i += 7) {
		(void)snprintf(addr, sizeof(addr), "U%d@EXAMPLE.com", i);
		ck_assert(!cleanup_rcpt_add(&list, addr, NULL, NULL, NULL));
	}
	ck_assert_uint_eq(list.n, 5000);
	cleanup_rcpt_list_release(&list);
}

END_TEST

/* main - run the suite */
int main(void)
{
	Suite *s = suite_create("cleanup_alias");
	TCase *tc = tcase_create("alias");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_expand);
	tcase_add_test(tc, test_original);
	tcase_add_test(tc, test_many);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
