/*
 * NAME
 *	test_header - unit tests for lib/header.c
 * SYNOPSIS
 *	build/unit/lib/test_header
 * DESCRIPTION
 *	Which lines start a header field, and matching a field's name:
 *	case, blanks before the colon, lengths that stop short of the
 *	colon, and bytes that may not be in a name.
 * DIAGNOSTICS
 *	Check's report; exit status 1 when a test fails.
 */
#include "sys_defs.h"

#include <check.h>

#include "header.h"
#include "log.h"

static const struct {
	const char *line;
	size_t len; /* 0: strlen(line) */
	bool is_field;
	bool is_received;
} cases[] = {
    {"Received: from a", 0, true, true},
    {"RECEIVED:x", 0, true, true},
    {"received \t: x", 0, true, true},
    {"Received-SPF: pass", 0, true, false},
    {"Receive: x", 0, true, false},
    {"Subject: hi", 0, true, false},
    {"Received: x", 8, false, false}, /* cut before the colon */
    {"Received", 0, false, false},
    {": no name", 0, false, false},
    {" Folded: continuation", 0, false, false},
    {"Bad name: x", 0, false, false},
    {"Na\x7fme: x", 0, false, false},
    {"Na\xc3\xa9me: x", 0, false, false},
    {"", 0, false, false},
};

START_TEST(test_fields)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *line = cases[i].line;
		size_t len = cases[i].len ? cases[i].len : strlen(line);

		ck_assert_msg(header_is_field(line, len) == cases[i].is_field,
			      "case %zu: is_field(\"%s\") is %d", i, line,
			      !cases[i].is_field);
		ck_assert_msg(header_field_is(line, len, "received") ==
				  cases[i].is_received,
			      "case %zu: field_is(\"%s\", received) is %d", i,
			      line, !cases[i].is_received);
	}
}

END_TEST

/* header_suite - the tests */
static Suite *header_suite(void)
{
	Suite *s = suite_create("header");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_fields);
	suite_add_tcase(s, tc);
	return s;
}

/* main - run the suite */
int main(void)
{
	SRunner *sr = srunner_create(header_suite());
	int failed;

	log_init("postern", "test_header");
	log_set_syslog(false);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
