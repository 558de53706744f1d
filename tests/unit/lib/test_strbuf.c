/*
 * NAME
 *	test_strbuf - unit tests for lib/strbuf.c
 * SYNOPSIS
 *	build/unit/lib/test_strbuf
 * DESCRIPTION
 *	Growth by doubling, the hard maximum (a refused append leaves the
 *	buffer unchanged), printf and %m, consume, binary data with NULs,
 *	export.
 * DIAGNOSTICS
 *	Check's report; exit status 1 when a test fails.
 */
#include "sys_defs.h"

#include <check.h>
#include <errno.h>
#include <signal.h>

#include "log.h"
#include "strbuf.h"

/* test_growth - many small appends keep the contents and the NUL */
START_TEST(test_growth)
{
	struct strbuf *sb = strbuf_alloc(1);
	size_t i;

	for (i = 0; i < 10000; i++)
		ck_assert_int_eq(strbuf_addch(sb, 'a' + (int)(i % 26)), 0);
	ck_assert_uint_eq(strbuf_len(sb), 10000);
	ck_assert_uint_ge(sb->cap, 10001);
	ck_assert_int_eq(sb->data[10000], '\0');
	for (i = 0; i < 10000; i++)
		ck_assert_int_eq(sb->data[i], 'a' + (int)(i % 26));
	strbuf_free(&sb);
	ck_assert_ptr_null(sb);
}

END_TEST

/* test_max - appends past the maximum fail and change nothing */
START_TEST(test_max)
{
	static const struct {
		size_t max;
		const char *first;
		const char *second;
		int want_ret;
		const char *want;
	} cases[] = {
	    {5, "abc", "de", 0, "abcde"},
	    {5, "abc", "def", -1, "abc"},
	    {5, "abcde", "f", -1, "abcde"},
	    {0, "abc", "defghij", 0, "abcdefghij"},
	    {3, "", "abcd", -1, ""},
	};

	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		struct strbuf *sb = strbuf_alloc(2);
		size_t cap;

		strbuf_set_max(sb, cases[i].max);
		ck_assert_int_eq(strbuf_cat(sb, cases[i].first), 0);
		cap = sb->cap;
		ck_assert_msg(strbuf_cat(sb, cases[i].second) ==
				  cases[i].want_ret,
			      "case %zu: got ret != %d", i, cases[i].want_ret);
		ck_assert_str_eq(strbuf_str(sb), cases[i].want);
		ck_assert_uint_eq(strbuf_len(sb), strlen(cases[i].want));
		if (cases[i].want_ret < 0)
			ck_assert_uint_eq(sb->cap, cap);
		strbuf_free(&sb);
	}
}

END_TEST

/* test_max_printf - a printf past the maximum leaves the old contents */
START_TEST(test_max_printf)
{
	struct strbuf *sb = strbuf_alloc(4);

	strbuf_set_max(sb, 8);
	ck_assert_int_eq(strbuf_cat(sb, "abc"), 0);
	ck_assert_int_eq(strbuf_printf_append(sb, "%s", "0123456789"), -1);
	ck_assert_str_eq(strbuf_str(sb), "abc");
	ck_assert_uint_eq(strbuf_len(sb), 3);
	ck_assert_int_eq(strbuf_printf_append(sb, "%d", 12345), 0);
	ck_assert_str_eq(strbuf_str(sb), "abc12345");
	strbuf_free(&sb);
}

END_TEST

/* test_printf - formatting, replace versus append, %m */
START_TEST(test_printf)
{
	struct strbuf *sb = strbuf_alloc(1);
	char big[3000];

	ck_assert_int_eq(strbuf_printf(sb, "%d-%s", 42, "x"), 0);
	ck_assert_str_eq(strbuf_str(sb), "42-x");
	ck_assert_int_eq(strbuf_printf_append(sb, "/%05d", 7), 0);
	ck_assert_str_eq(strbuf_str(sb), "42-x/00007");
	ck_assert_int_eq(strbuf_printf(sb, "new"), 0);
	ck_assert_str_eq(strbuf_str(sb), "new");
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(strbuf_printf(sb, "<%s>", big), 0);
	ck_assert_uint_eq(strbuf_len(sb), sizeof(big) + 1);
	ck_assert_int_eq(sb->data[0], '<');
	ck_assert_int_eq(sb->data[sizeof(big)], '>');
	errno = ENOENT;
	ck_assert_int_eq(strbuf_printf(sb, "open x: %m"), 0);
	ck_assert_str_eq(strbuf_str(sb), "open x: No such file or directory");
	strbuf_free(&sb);
}

END_TEST

/* test_consume - dropping bytes from the front */
START_TEST(test_consume)
{
	struct strbuf *sb = strbuf_alloc(16);

	strbuf_cat(sb, "hello world");
	strbuf_consume(sb, 6);
	ck_assert_str_eq(strbuf_str(sb), "world");
	ck_assert_uint_eq(strbuf_len(sb), 5);
	strbuf_consume(sb, 0);
	ck_assert_str_eq(strbuf_str(sb), "world");
	strbuf_consume(sb, 100);
	ck_assert_str_eq(strbuf_str(sb), "");
	ck_assert_uint_eq(strbuf_len(sb), 0);
	strbuf_cat(sb, "again");
	ck_assert_str_eq(strbuf_str(sb), "again");
	strbuf_free(&sb);
}

END_TEST

/* test_binary - NUL bytes are data, not terminators */
START_TEST(test_binary)
{
	static const char data[] = {'a', '\0', 'b', '\0', '\0', 'c'};
	struct strbuf *sb = strbuf_alloc(2);

	ck_assert_int_eq(strbuf_catn(sb, data, sizeof(data)), 0);
	ck_assert_int_eq(strbuf_catn(sb, data, sizeof(data)), 0);
	ck_assert_uint_eq(strbuf_len(sb), 2 * sizeof(data));
	ck_assert_mem_eq(sb->data, data, sizeof(data));
	ck_assert_mem_eq(sb->data + sizeof(data), data, sizeof(data));
	ck_assert_int_eq(sb->data[2 * sizeof(data)], '\0');
	strbuf_consume(sb, 1);
	ck_assert_uint_eq(strbuf_len(sb), 2 * sizeof(data) - 1);
	ck_assert_mem_eq(sb->data, data + 1, sizeof(data) - 1);
	strbuf_truncate(sb, 3);
	ck_assert_uint_eq(strbuf_len(sb), 3);
	ck_assert_int_eq(sb->data[3], '\0');
	strbuf_free(&sb);
}

END_TEST

/* test_copy_reset_export - whole-buffer operations */
START_TEST(test_copy_reset_export)
{
	struct strbuf *sb = strbuf_alloc(0);
	struct strbuf embedded;
	char *s;

	ck_assert_int_eq(strbuf_copy(sb, "first"), 0);
	ck_assert_int_eq(strbuf_copy(sb, "second"), 0);
	ck_assert_str_eq(strbuf_str(sb), "second");
	strbuf_reset(sb);
	ck_assert_uint_eq(strbuf_len(sb), 0);
	ck_assert_str_eq(strbuf_str(sb), "");
	strbuf_cat(sb, "exported");
	s = strbuf_export(sb);
	ck_assert_str_eq(s, "exported");
	free(s);
	ck_assert_uint_eq(strbuf_len(sb), 0);
	ck_assert_int_eq(strbuf_cat(sb, "still usable"), 0);
	ck_assert_str_eq(strbuf_str(sb), "still usable");
	strbuf_free(&sb);
	strbuf_free(&sb); /* a second free is harmless */

	strbuf_init(&embedded, 4);
	strbuf_cat(&embedded, "inside");
	ck_assert_str_eq(strbuf_str(&embedded), "inside");
	strbuf_release(&embedded);
}

END_TEST

/* test_overflow - a size that cannot be represented panics */
START_TEST(test_overflow)
{
	struct strbuf *sb = strbuf_alloc(16);

	strbuf_cat(sb, "x");
	(void)strbuf_reserve(sb, SIZE_MAX - 1);
}

END_TEST

/* strbuf_suite - every strbuf test */
static Suite *strbuf_suite(void)
{
	Suite *s = suite_create("strbuf");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_growth);
	tcase_add_test(tc, test_max);
	tcase_add_test(tc, test_max_printf);
	tcase_add_test(tc, test_printf);
	tcase_add_test(tc, test_consume);
	tcase_add_test(tc, test_binary);
	tcase_add_test(tc, test_copy_reset_export);
	tcase_add_test_raise_signal(tc, test_overflow, SIGABRT);
	suite_add_tcase(s, tc);
	return s;
}

/* main - run the suite */
int main(void)
{
	SRunner *sr = srunner_create(strbuf_suite());
	int failed;

	log_init("postern", "test_strbuf");
	log_set_syslog(false);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
