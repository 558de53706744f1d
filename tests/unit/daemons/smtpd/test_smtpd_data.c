/*
 * NAME
 *	test_smtpd_data - unit tests for daemons/smtpd/smtpd_data.c
 * SYNOPSIS
 *	build/unit/daemons/smtpd/test_smtpd_data
 * DESCRIPTION
 *	The DATA and BDAT content reader, table-driven: dot-unstuffing,
 *	the only terminator CR LF . CR LF, "\n.\n" and other smuggling
 *	attempts, bare LF and bare CR under each smtpd_forbid_bare_newline
 *	mode, NULs, the 1000-octet line limit and pipelined commands left
 *	after the terminator. Every case is run twice: in one piece and one
 *	octet at a time, and both runs must agree.
 * DIAGNOSTICS
 *	Check's report; exit status 1 when a test fails.
 */
#include "sys_defs.h"

#include <check.h>

#include "log.h"
#include "strbuf.h"

#include "../../../../daemons/smtpd/smtpd.h"

#define NO SMTPD_BARE_NO
#define NORM SMTPD_BARE_NORMALIZE
#define REJ SMTPD_BARE_REJECT
#define ALL ((size_t)-1)

/* Flags a case expects. */
#define F_DONE 0x01
#define F_BARE_LF 0x02
#define F_BARE_CR 0x04
#define F_LONG 0x08

struct data_case {
	enum smtpd_bare bare;
	bool bdat;
	const char *in;
	size_t in_len; /* 0: strlen */
	const char *want;
	size_t want_len;  /* 0: strlen */
	size_t want_used; /* ALL: everything */
	unsigned want_flags;
};

static const struct data_case data_cases[] = {
    /* DATA basics. */
    {NORM, false, "Hello\r\n.\r\n", 0, "Hello\n", 0, ALL, F_DONE},
    {NORM, false, ".\r\n", 0, "", 0, ALL, F_DONE},
    {NORM, false, "\r\n.\r\n", 0, "\n", 0, ALL, F_DONE},
    {NORM, false, "a\r\n..\r\n.\r\n", 0, "a\n.\n", 0, ALL, F_DONE},
    {NORM, false, "..dot\r\n.\r\n", 0, ".dot\n", 0, ALL, F_DONE},
    {NORM, false, ".a\r\n.\r\n", 0, "a\n", 0, ALL, F_DONE},
    {NORM, false, "a.\r\n.b\r\n.\r\n", 0, "a.\nb\n", 0, ALL, F_DONE},
    {NORM, false, "abc\r\n", 0, "abc\n", 0, ALL, 0},
    {NORM, false, "abc", 0, "abc", 0, ALL, 0},
    /* Pipelined commands after the end stay unread. */
    {NORM, false, "a\r\n.\r\nQUIT\r\n", 0, "a\n", 0, 6, F_DONE},
    {NORM, false, ".\r\nRSET\r\n", 0, "", 0, 3, F_DONE},
    /* Smuggling: only CR LF . CR LF ends a message. */
    {NORM, false, "a\n.\nMAIL FROM:<x@y>\r\n.\r\n", 0, "a\n\nMAIL FROM:<x@y>\n",
     0, ALL, F_DONE | F_BARE_LF},
    {NORM, false, "a\r\n.\nb\r\n.\r\n", 0, "a\n\nb\n", 0, ALL,
     F_DONE | F_BARE_LF},
    {NORM, false, "a\n.\r\nb\r\n.\r\n", 0, "a\n\nb\n", 0, ALL,
     F_DONE | F_BARE_LF},
    {NORM, false, "a\r.\r\nb\r\n.\r\n", 0, "a\n\nb\n", 0, ALL,
     F_DONE | F_BARE_CR},
    {NORM, false, "a\r\n.\rb\r\n.\r\n", 0, "a\n\nb\n", 0, ALL,
     F_DONE | F_BARE_CR},
    {NORM, false, "a\r\r\n.\r\n", 0, "a\n\n", 0, ALL, F_DONE | F_BARE_CR},
    {NO, false, "a\r.\r\nb\r\n.\r\n", 0, "a\r.\nb\n", 0, ALL,
     F_DONE | F_BARE_CR},
    {NO, false, "a\n.\nb\r\n.\r\n", 0, "a\n\nb\n", 0, ALL, F_DONE | F_BARE_LF},
    {REJ, false, "a\n.\nb\r\n.\r\n", 0, "a\n\nb\n", 0, ALL, F_DONE | F_BARE_LF},
    {NORM, false, "a\n.\n", 0, "a\n\n", 0, ALL, F_BARE_LF},
    {NORM, false, "a\r\n.\n.\r\n", 0, "a\n\n\n", 0, ALL, F_BARE_LF},
    {NORM, false, "a\r.\r", 0, "a\n", 0, ALL, F_BARE_CR}, /* ".\r" pending */
    /* Bare LF and CR inside lines. */
    {NORM, false, "a\nb\r\n.\r\n", 0, "a\nb\n", 0, ALL, F_DONE | F_BARE_LF},
    {NORM, false, "a\rb\r\n.\r\n", 0, "a\nb\n", 0, ALL, F_DONE | F_BARE_CR},
    {NO, false, "a\rb\r\n.\r\n", 0, "a\rb\n", 0, ALL, F_DONE | F_BARE_CR},
    /* NULs are content. */
    {NORM, false, "a\0b\r\n.\r\n", 8, "a\0b\n", 4, ALL, F_DONE},
    {NORM, false, "\0\r\n.\r\n", 6, "\0\n", 2, ALL, F_DONE},
    /* BDAT: no dot-stuffing, no terminator. */
    {NORM, true, "a\r\nb", 0, "a\nb\n", 0, ALL, 0},
    {NORM, true, ".\r\n", 0, ".\n", 0, ALL, 0},
    {NORM, true, "..\r\n.\r\n", 0, "..\n.\n", 0, ALL, 0},
    {NORM, true, "a\rb", 0, "a\nb\n", 0, ALL, F_BARE_CR},
    {NORM, true, "a\r", 0, "a\n", 0, ALL, F_BARE_CR},
    {NO, true, "a\r", 0, "a\r\n", 0, ALL, F_BARE_CR},
    {NORM, true, "a\nb\r\n", 0, "a\nb\n", 0, ALL, F_BARE_LF},
    {NORM, true, "", 0, "", 0, ALL, 0},
    {NORM, true, "a\0\r\n", 4, "a\0\n", 3, ALL, 0},
};

/* data_run - feed a case whole or in octets; returns the octets used */
static size_t data_run(const struct data_case *c, size_t piece,
		       struct smtpd_data *d, struct strbuf *out)
{
	size_t len = c->in_len ? c->in_len : strlen(c->in);
	size_t used = 0;

	smtpd_data_init(d, c->bare, c->bdat);
	strbuf_reset(out);
	while (used < len && !d->done) {
		size_t n = len - used < piece ? len - used : piece;
		size_t u = smtpd_data_feed(d, c->in + used, n, out);

		used += u;
		if (u < n)
			break;
	}
	if (c->bdat)
		smtpd_data_finish(d, out);
	return used;
}

/* test_cases - the table, whole and octet by octet */
START_TEST(test_cases)
{
	static const size_t pieces[] = {(size_t)-1, 1, 2, 3};
	struct strbuf out;
	size_t i, p;

	strbuf_init(&out, 64);
	for (i = 0; i < ARRAY_LEN(data_cases); i++) {
		const struct data_case *c = &data_cases[i];
		size_t len = c->in_len ? c->in_len : strlen(c->in);
		size_t want_len = c->want_len ? c->want_len : strlen(c->want);

		for (p = 0; p < ARRAY_LEN(pieces); p++) {
			struct smtpd_data d;
			size_t used = data_run(c, pieces[p], &d, &out);
			unsigned flags = (d.done ? F_DONE : 0) |
					 (d.bare_lf ? F_BARE_LF : 0) |
					 (d.bare_cr ? F_BARE_CR : 0) |
					 (d.long_line ? F_LONG : 0);

			ck_assert_msg(out.len == want_len &&
					  memcmp(out.data, c->want, want_len) ==
					      0,
				      "case %zu piece %zu: got \"%s\" (%zu)", i,
				      pieces[p], out.data, out.len);
			ck_assert_msg(
			    used == (c->want_used == ALL ? len : c->want_used),
			    "case %zu piece %zu: used %zu", i, pieces[p], used);
			ck_assert_msg(flags == c->want_flags,
				      "case %zu piece %zu: flags %#x want %#x",
				      i, pieces[p], flags, c->want_flags);
			ck_assert_uint_eq(d.out_bytes, out.len);
		}
	}
	strbuf_release(&out);
}

END_TEST

/* test_line_limit - 998 octets pass, 999 are too long (also with dots) */
START_TEST(test_line_limit)
{
	static const struct {
		size_t len;
		bool dot;
		bool bdat;
		bool want_long;
	} cases[] = {
	    {998, false, false, false}, {999, false, false, true},
	    {997, true, false, false},  {998, true, false, true},
	    {998, false, true, false},  {999, false, true, true},
	    {5000, false, false, true},
	};
	struct strbuf in, out;
	size_t i;

	strbuf_init(&in, 6000);
	strbuf_init(&out, 6000);
	for (i = 0; i < ARRAY_LEN(cases); i++) {
		struct smtpd_data d;
		size_t k;

		strbuf_reset(&in);
		strbuf_reset(&out);
		if (cases[i].dot)
			(void)strbuf_addch(&in, '.');
		for (k = 0; k < cases[i].len; k++)
			(void)strbuf_addch(&in, 'x');
		(void)strbuf_cat(&in, "\r\nshort\r\n");
		if (!cases[i].bdat)
			(void)strbuf_cat(&in, ".\r\n");
		smtpd_data_init(&d, SMTPD_BARE_NORMALIZE, cases[i].bdat);
		(void)smtpd_data_feed(&d, in.data, in.len, &out);
		ck_assert_msg(d.long_line == cases[i].want_long, "case %zu", i);
		ck_assert(d.done == !cases[i].bdat);
	}
	strbuf_release(&in);
	strbuf_release(&out);
}

END_TEST

/* test_bare_parse - smtpd_forbid_bare_newline values */
START_TEST(test_bare_parse)
{
	enum smtpd_bare b;

	ck_assert_int_eq(smtpd_bare_parse("no", &b), 0);
	ck_assert_int_eq(b, SMTPD_BARE_NO);
	ck_assert_int_eq(smtpd_bare_parse("normalize", &b), 0);
	ck_assert_int_eq(b, SMTPD_BARE_NORMALIZE);
	ck_assert_int_eq(smtpd_bare_parse("reject", &b), 0);
	ck_assert_int_eq(b, SMTPD_BARE_REJECT);
	ck_assert_int_eq(smtpd_bare_parse("yes", &b), -1);
}

END_TEST

/* data_suite - every reader test */
static Suite *data_suite(void)
{
	Suite *s = suite_create("smtpd_data");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_cases);
	tcase_add_test(tc, test_line_limit);
	tcase_add_test(tc, test_bare_parse);
	suite_add_tcase(s, tc);
	return s;
}

/* main - run the suite */
int main(void)
{
	SRunner *sr = srunner_create(data_suite());
	int failed;

	log_init("postern", "test_smtpd_data");
	log_set_syslog(false);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
