/*
 * NAME
 *	test_cleanup_message - unit tests for cleanup's content filter
 * SYNOPSIS
 *	build/unit/daemons/cleanup/test_cleanup_message
 * DESCRIPTION
 *	Table-driven: each input is fed whole, one byte at a time and in
 *	chunks of 7, and must give the same output: Message-ID and Date
 *	appended to the header section when missing (never when present,
 *	in any case), an empty line inserted before a body that starts
 *	without one, Received headers counted (folded ones once), the
 *	message refused at hopcount_limit and past message_size_limit. A
 *	header section past CLEANUP_HEADER_MAX ends, in any chunking,
 *	before the first line that does not fit, with an empty line.
 * DIAGNOSTICS
 *	Check's report; exit status 1 when a test fails.
 */
#include "sys_defs.h"

#include <check.h>

#include "strbuf.h"

#include "../../../../daemons/cleanup/cleanup.h"

#define NOW 1700000000LL

/* collect - output callback into a strbuf */
static int collect(void *ctx, const void *data, size_t len)
{
	return strbuf_catn(ctx, data, len);
}

/* run - feed input in chunks of size step (0 = whole) */
static void run(const char *input, size_t step, long long size_limit,
		struct strbuf *out, struct cleanup_content *cc)
{
	size_t len = strlen(input), pos = 0, n;

	memset(cc, 0, sizeof(*cc));
	cc->queue_id = "0123456789ABCDEF";
	cc->myhostname = "mx.example.com";
	cc->size_limit = size_limit;
	cc->hop_limit = 3;
	cc->now = NOW;
	cc->out = collect;
	cc->out_ctx = out;
	cleanup_content_init(cc);
	while (pos < len) {
		n = step == 0 || step > len - pos ? len - pos : step;
		ck_assert_int_eq(cleanup_content_feed(cc, input + pos, n), 0);
		pos += n;
	}
	ck_assert_int_eq(cleanup_content_finish(cc), 0);
}

/* test_headers - additions, boundary, Received count, in any chunking */
START_TEST(test_headers)
{
	char date[64], msgid[] = "Message-ID: <0123456789ABCDEF.1700000000"
				 "@mx.example.com>\n";

	static const struct {
		const char *in;
		bool want_msgid, want_date;
		const char *want_pre;  /* output before additions */
		const char *want_post; /* output after additions */
		int want_hops;
		const char *want_logged;
	} cases[] = {
	    {"Subject: x\n\nbody\n", true, true, "Subject: x\n", "\nbody\n", 0,
	     NULL},
	    {"Subject: x\nmessage-id:  <a@b>\nDATE: now\n\nbody\n", false,
	     false, "Subject: x\nmessage-id:  <a@b>\nDATE: now\n", "\nbody\n",
	     0, "<a@b>"},
	    {"Message-Id:\n <folded@x>\nSubject: y\n\n", false, true,
	     "Message-Id:\n <folded@x>\nSubject: y\n", "\n", 0, "<folded@x>"},
	    {"just a body line\nmore\n", true, true, "",
	     "\njust a body line\nmore\n", 0, NULL},
	    {"Subject: x\nnot a header\n", true, true, "Subject: x\n",
	     "\nnot a header\n", 0, NULL},
	    {"Subject: no newline", true, true, "Subject: no newline\n", "", 0,
	     NULL},
	    {"", true, true, "", "", 0, NULL},
	    {"Received: a\nReceived: b\n\tc\nX: Received: d\n\nReceived: e\n",
	     true, true, "Received: a\nReceived: b\n\tc\nX: Received: d\n",
	     "\nReceived: e\n", 2, NULL},
	    {"\nbody only\n", true, true, "", "\nbody only\n", 0, NULL},
	};

	static const size_t steps[] = {0, 1, 7};
	size_t i, s;

	cleanup_format_date(NOW, date, sizeof(date));
	for (i = 0; i < ARRAY_LEN(cases); i++) {
		for (s = 0; s < ARRAY_LEN(steps); s++) {
			struct strbuf *out = strbuf_alloc(64);
			struct strbuf *want = strbuf_alloc(64);
			struct cleanup_content cc;

			run(cases[i].in, steps[s], 0, out, &cc);
			strbuf_cat(want, cases[i].want_pre);
			if (cases[i].want_msgid)
				strbuf_cat(want, msgid);
			if (cases[i].want_date)
				strbuf_printf_append(want, "Date: %s\n", date);
			strbuf_cat(want, cases[i].want_post);
			ck_assert_msg(strcmp(out->data, want->data) == 0,
				      "case %zu step %zu: got [%s] want [%s]",
				      i, steps[s], out->data, want->data);
			ck_assert_int_eq(cc.hops, cases[i].want_hops);
			if (cases[i].want_logged)
				ck_assert_str_eq(cc.message_id,
						 cases[i].want_logged);
			else
				ck_assert_str_eq(cc.message_id,
						 "<0123456789ABCDEF.1700000000"
						 "@mx.example.com>");
			ck_assert(!cleanup_content_looping(&cc));
			cleanup_content_release(&cc);
			strbuf_free(&out);
			strbuf_free(&want);
		}
	}
}

END_TEST

/* test_limits - hopcount_limit and message_size_limit */
START_TEST(test_limits)
{
	struct strbuf *out = strbuf_alloc(64);
	struct cleanup_content cc;

	/* hop_limit is 3: three Received headers is a loop. */
	run("Received: 1\nReceived: 2\nReceived: 3\n\nx\n", 1, 0, out, &cc);
	ck_assert(cleanup_content_looping(&cc));
	cleanup_content_release(&cc);
	strbuf_reset(out);
	run("Received: 1\nReceived: 2\n\nx\n", 1, 0, out, &cc);
	ck_assert(!cleanup_content_looping(&cc));
	cleanup_content_release(&cc);

	/* Size: the limit counts received bytes, additions excluded. */
	strbuf_reset(out);
	run("Subject: 12345\n\n", 0, 16, out, &cc);
	ck_assert(!cleanup_content_too_big(&cc));
	cleanup_content_release(&cc);
	strbuf_reset(out);
	run("Subject: 12345\n\nx", 3, 16, out, &cc);
	ck_assert(cleanup_content_too_big(&cc));
	ck_assert_int_eq(cc.size, 17);
	cleanup_content_release(&cc);
	strbuf_free(&out);
}

END_TEST

/* test_header_max - a header section past CLEANUP_HEADER_MAX ends
 * before the first line that does not fit, with an empty line, the same
 * in any chunking */
START_TEST(test_header_max)
{
	static const size_t steps[] = {0, 7, 4096, 65536};
	const char *filler = "X-Filler: 0123456789012345678901234567890\n";
	size_t flen = strlen(filler), nfill = CLEANUP_HEADER_MAX / flen;
	struct strbuf *in = strbuf_alloc(CLEANUP_HEADER_MAX + 256);
	struct strbuf *first = strbuf_alloc(64), *out = strbuf_alloc(64);
	struct cleanup_content cc;
	const char *tail;
	size_t i;

	for (i = 0; i < nfill; i++)
		strbuf_cat(in, filler);
	/* This field crosses the limit; so does everything after it. */
	strbuf_cat(in, "Received: from x\n by y\nSubject: z\n\nbody\n");
	for (i = 0; i < ARRAY_LEN(steps); i++) {
		strbuf_reset(out);
		run(in->data, steps[i], 0, out, &cc);
		ck_assert_int_eq(cc.hops, 0);
		ck_assert(!cleanup_content_looping(&cc));
		tail = out->data + nfill * flen;
		ck_assert(memcmp(out->data, in->data, nfill * flen) == 0);
		ck_assert_msg(strncmp(tail, "Message-ID: ", 12) == 0,
			      "step %zu: %.40s", steps[i], tail);
		tail = strstr(tail, "\nDate: ");
		ck_assert_ptr_nonnull(tail);
		tail = strchr(tail + 1, '\n');
		ck_assert_str_eq(tail, "\n\nReceived: from x\n by y\n"
				       "Subject: z\n\nbody\n");
		if (i == 0)
			strbuf_copy(first, out->data);
		else
			ck_assert_str_eq(out->data, first->data);
		cleanup_content_release(&cc);
	}
	strbuf_free(&in);
	strbuf_free(&first);
	strbuf_free(&out);
}

END_TEST

/* main - run the suite */
int main(void)
{
	Suite *s = suite_create("cleanup_message");
	TCase *tc = tcase_create("content");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_headers);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_header_max);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
