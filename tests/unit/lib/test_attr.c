/*
 * NAME
 *	test_attr - unit tests for lib/attr.c (the IPC encoding)
 * SYNOPSIS
 *	build/unit/lib/test_attr
 * DESCRIPTION
 *	Encoding and decoding round trips, binary values with NULs,
 *	incremental decoding one byte at a time, truncated input, the size
 *	and count limits, malformed lengths, and attr_scan's strictness
 *	(duplicate, unknown and missing attributes, integer overflow, NUL
 *	inside a string).
 * DIAGNOSTICS
 *	Check's report; exit status 1 when a test fails.
 */
#include "sys_defs.h"

#include <check.h>
#include <limits.h>

#include "attr.h"
#include "log.h"
#include "strbuf.h"

/* LIT - a string literal and its length, NULs included */
#define LIT(s) s, sizeof(s) - 1

struct request {
	const char *verb;
	long long size;
	const char *blob;
	size_t blob_len;
	const char *note;
};

static const struct attr_spec request_specs[] = {
    {"request", ATTR_TYPE_STR, offsetof(struct request, verb), 0, true},
    {"size", ATTR_TYPE_INT, offsetof(struct request, size), 0, true},
    {"blob", ATTR_TYPE_DATA, offsetof(struct request, blob),
     offsetof(struct request, blob_len), false},
    {"note", ATTR_TYPE_STR, offsetof(struct request, note), 0, false},
};

/* decode_all - decode a complete buffer, expecting one message */
static int decode_all(const char *buf, size_t len, struct attr_msg *msg,
		      size_t *used_r, const char **error_r)
{
	*used_r = 0;
	*error_r = NULL;
	return attr_decode(buf, len, msg, used_r, error_r);
}

/* test_round_trip - every put function decodes to what was put */
START_TEST(test_round_trip)
{
	static const char bin[] = {'\0', 'a', '\0', ',', ':', '\xff', '0'};
	struct strbuf *out = strbuf_alloc(16);
	struct attr_msg *msg = attr_msg_alloc();
	const struct attr *a;
	const char *error;
	size_t used;

	attr_put_str(out, ATTR_REQUEST, "lookup");
	attr_put_int(out, "size", -42);
	attr_put_int(out, "big", LLONG_MAX);
	attr_put_data(out, "blob", bin, sizeof(bin));
	attr_put_str(out, "empty", "");
	attr_put_end(out);
	ck_assert_int_eq(decode_all(out->data, out->len, msg, &used, &error),
			 1);
	ck_assert_uint_eq(used, out->len);
	ck_assert_uint_eq(msg->count, 5);
	ck_assert_str_eq(attr_get_str(msg, "request"), "lookup");
	ck_assert_str_eq(attr_get_str(msg, "size"), "-42");
	ck_assert_str_eq(attr_get_str(msg, "big"), "9223372036854775807");
	ck_assert_str_eq(attr_get_str(msg, "empty"), "");
	a = attr_find(msg, "blob");
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(a->len, sizeof(bin));
	ck_assert_mem_eq(a->value, bin, sizeof(bin));
	/* A value with a NUL is not a C string. */
	ck_assert_ptr_null(attr_get_str(msg, "blob"));
	ck_assert_ptr_null(attr_find(msg, "absent"));
	attr_msg_free(&msg);
	ck_assert_ptr_null(msg);
	strbuf_free(&out);
}

END_TEST

/* test_wire_format - the exact bytes on the wire */
START_TEST(test_wire_format)
{
	struct strbuf *out = strbuf_alloc(16);

	attr_put_str(out, "status", "ok");
	attr_put_int(out, "n", 10);
	attr_put_end(out);
	ck_assert_str_eq(strbuf_str(out), "6:status,2:ok,1:n,2:10,0:,");
	strbuf_free(&out);
}

END_TEST

/* test_incremental - every proper prefix needs more; the whole is one
 * message; bytes after it are left for the next */
START_TEST(test_incremental)
{
	static const char bin[] = {'x', '\0', 'y'};
	struct strbuf *out = strbuf_alloc(16);
	struct attr_msg *msg = attr_msg_alloc();
	const char *error;
	size_t used;
	size_t i;
	size_t first_len;

	attr_put_str(out, "request", "deliver");
	attr_put_data(out, "blob", bin, sizeof(bin));
	attr_put_int(out, "size", 1234567);
	attr_put_end(out);
	first_len = out->len;
	for (i = 0; i < first_len; i++) {
		int r = decode_all(out->data, i, msg, &used, &error);

		ck_assert_msg(r == 0, "prefix of %zu bytes: got %d (%s)", i, r,
			      r < 0 ? error : "");
	}
	ck_assert_int_eq(decode_all(out->data, first_len, msg, &used, &error),
			 1);
	ck_assert_uint_eq(used, first_len);
	/* Two messages back to back: the first is taken, then the next. */
	attr_put_str(out, "request", "second");
	attr_put_end(out);
	ck_assert_int_eq(decode_all(out->data, out->len, msg, &used, &error),
			 1);
	ck_assert_uint_eq(used, first_len);
	ck_assert_str_eq(attr_get_str(msg, "request"), "deliver");
	strbuf_consume(out, used);
	ck_assert_int_eq(decode_all(out->data, out->len, msg, &used, &error),
			 1);
	ck_assert_str_eq(attr_get_str(msg, "request"), "second");
	ck_assert_uint_eq(msg->count, 1);
	attr_msg_free(&msg);
	strbuf_free(&out);
}

END_TEST

/* test_malformed - bad framing is an error with a reason */
START_TEST(test_malformed)
{
	static const struct {
		const char *in;
		size_t len;
		int want;
	} cases[] = {
	    {LIT(""), 0},
	    {LIT("0:,"), 1},
	    {LIT("1:a,1:b,0:,"), 1},
	    {LIT("1:a,1:b,0:"), 0},
	    {LIT("1:a,1:b"), 0},
	    {LIT("01:a,1:b,0:,"), -1},  /* leading zero */
	    {LIT("1:a,01:b,0:,"), -1},  /* leading zero in a value length */
	    {LIT("00:,"), -1},          /* leading zero on the terminator */
	    {LIT("x:a,1:b,0:,"), -1},   /* non-digit */
	    {LIT("1a,1:b,0:,"), -1},    /* missing ':' */
	    {LIT(":a,1:b,0:,"), -1},    /* no digits */
	    {LIT("-1:a,0:,"), -1},      /* sign */
	    {LIT("+1:a,1:b,0:,"), -1},  /* sign */
	    {LIT(" 1:a,1:b,0:,"), -1},  /* space */
	    {LIT("1:ab1:b,0:,"), -1},   /* missing ',' */
	    {LIT("1:a;1:b,0:,"), -1},   /* wrong terminator */
	    {LIT("1:a,1:b;0:,"), -1},   /* wrong terminator on a value */
	    {LIT("1:A,1:b,0:,"), -1},   /* upper case name */
	    {LIT("3:a-b,1:b,0:,"), -1}, /* punctuation in a name */
	    {LIT("1:\0,1:b,0:,"), -1},  /* NUL in a name */
	    {LIT("12345678:"), -1},     /* too many digits */
	    {LIT("99999999999999999999:"), -1},
	};
	struct attr_msg *msg = attr_msg_alloc();
	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		const char *error;
		size_t used;
		int r;

		r = decode_all(cases[i].in, cases[i].len, msg, &used, &error);
		ck_assert_msg(r == cases[i].want,
			      "case %zu \"%s\": got %d, want %d", i,
			      cases[i].in, r, cases[i].want);
		if (r < 0)
			ck_assert_msg(error != NULL && *error != '\0',
				      "case %zu: no reason", i);
	}
	attr_msg_free(&msg);
}

END_TEST

/* test_limits - names, values and counts over the limits are refused */
START_TEST(test_limits)
{
	struct strbuf *out = strbuf_alloc(16);
	struct strbuf *name = strbuf_alloc(16);
	struct attr_msg *msg = attr_msg_alloc();
	const char *error;
	size_t used;
	size_t i;
	char *big;

	/* A name of ATTR_NAME_MAX bytes is fine, one more is not. */
	for (i = 0; i < ATTR_NAME_MAX; i++)
		strbuf_addch(name, 'n');
	attr_put_str(out, strbuf_str(name), "v");
	attr_put_end(out);
	ck_assert_int_eq(decode_all(out->data, out->len, msg, &used, &error),
			 1);
	strbuf_reset(out);
	strbuf_addch(name, 'n');
	attr_put_str(out, strbuf_str(name), "v");
	attr_put_end(out);
	ck_assert_int_eq(decode_all(out->data, out->len, msg, &used, &error),
			 -1);

	/* A value of ATTR_VALUE_MAX bytes is fine, one more is not; the
	 * refusal comes from the length alone, before the bytes arrive. */
	big = calloc(ATTR_VALUE_MAX + 1, 1);
	ck_assert_ptr_nonnull(big);
	strbuf_reset(out);
	attr_put_data(out, "v", big, ATTR_VALUE_MAX);
	attr_put_end(out);
	ck_assert_int_eq(decode_all(out->data, out->len, msg, &used, &error),
			 1);
	ck_assert_uint_eq(attr_find(msg, "v")->len, ATTR_VALUE_MAX);
	strbuf_reset(out);
	strbuf_printf(out, "1:v,%d:", ATTR_VALUE_MAX + 1);
	ck_assert_int_eq(decode_all(out->data, out->len, msg, &used, &error),
			 -1);
	free(big);

	/* ATTR_COUNT_MAX attributes are fine, one more is not. */
	strbuf_reset(out);
	for (i = 0; i < ATTR_COUNT_MAX; i++)
		attr_put_int(out, "a", (long long)i);
	attr_put_end(out);
	ck_assert_int_eq(decode_all(out->data, out->len, msg, &used, &error),
			 1);
	ck_assert_uint_eq(msg->count, ATTR_COUNT_MAX);
	strbuf_reset(out);
	for (i = 0; i <= ATTR_COUNT_MAX; i++)
		attr_put_int(out, "a", (long long)i);
	attr_put_end(out);
	ck_assert_int_eq(decode_all(out->data, out->len, msg, &used, &error),
			 -1);
	attr_msg_free(&msg);
	strbuf_free(&out);
	strbuf_free(&name);
}

END_TEST

/* scan_text - decode text and scan it with request_specs */
static int scan_text(const char *text, size_t len, struct request *req,
		     const char **error_r)
{
	struct attr_msg *msg = attr_msg_alloc();
	size_t used;
	int ret;

	memset(req, 0, sizeof(*req));
	ck_assert_int_eq(decode_all(text, len, msg, &used, error_r), 1);
	ret = attr_scan(msg, request_specs, ARRAY_LEN(request_specs), req,
			error_r);
	/* Borrowed pointers die with the message: keep only the result. */
	req->verb = req->note = req->blob = NULL;
	attr_msg_free(&msg);
	return ret;
}

/* test_scan - strict mapping onto a struct */
START_TEST(test_scan)
{
	static const struct {
		const char *in;
		size_t len;
		int want;
		long long want_size;
		const char *want_error;
	} cases[] = {
	    {LIT("7:request,4:ping,4:size,2:12,0:,"), 0, 12, NULL},
	    {LIT("4:size,2:-7,7:request,4:ping,4:note,2:hi,0:,"), 0, -7, NULL},
	    {LIT("7:request,4:ping,4:size,19:9223372036854775807,0:,"), 0,
	     LLONG_MAX, NULL},
	    {LIT("7:request,4:ping,4:size,20:-9223372036854775808,0:,"), 0,
	     LLONG_MIN, NULL},
	    {LIT("7:request,4:ping,0:,"), -1, 0, "missing"},
	    {LIT("4:size,1:1,0:,"), -1, 0, "missing"},
	    {LIT("7:request,4:ping,4:size,1:1,7:request,4:pong,0:,"), -1, 0,
	     "duplicate"},
	    {LIT("7:request,4:ping,4:size,1:1,5:bogus,1:x,0:,"), -1, 0,
	     "unexpected"},
	    {LIT("7:request,4:ping,4:size,19:9223372036854775808,0:,"), -1, 0,
	     "integer"},
	    {LIT("7:request,4:ping,4:size,20:-9223372036854775809,0:,"), -1, 0,
	     "integer"},
	    {LIT("7:request,4:ping,4:size,2:1x,0:,"), -1, 0, "integer"},
	    {LIT("7:request,4:ping,4:size,0:,0:,"), -1, 0, "integer"},
	    {LIT("7:request,4:ping,4:size,3: 12,0:,"), -1, 0, "integer"},
	    {LIT("7:request,4:ping,4:size,3:1\0002,0:,"), -1, 0, "integer"},
	    {LIT("7:request,4:pi\0g,4:size,1:1,0:,"), -1, 0, "NUL"},
	};

	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		struct request req;
		const char *error = NULL;
		int r = scan_text(cases[i].in, cases[i].len, &req, &error);

		ck_assert_msg(r == cases[i].want, "case %zu: got %d (%s)", i, r,
			      error ? error : "");
		if (r == 0)
			ck_assert_msg(req.size == cases[i].want_size,
				      "case %zu: size %lld", i, req.size);
		else
			ck_assert_msg(
			    error != NULL && strstr(error, cases[i].want_error),
			    "case %zu: error \"%s\", want \"%s\"", i,
			    error ? error : "(none)", cases[i].want_error);
	}
}

END_TEST

/* test_scan_data - DATA keeps NULs and reports the length */
START_TEST(test_scan_data)
{
	static const char bin[] = {'a', '\0', 'b'};
	struct strbuf *out = strbuf_alloc(16);
	struct attr_msg *msg = attr_msg_alloc();
	struct request req;
	const char *error = NULL;
	size_t used;

	attr_put_str(out, "request", "put");
	attr_put_int(out, "size", 3);
	attr_put_data(out, "blob", bin, sizeof(bin));
	attr_put_end(out);
	ck_assert_int_eq(decode_all(out->data, out->len, msg, &used, &error),
			 1);
	memset(&req, 0, sizeof(req));
	ck_assert_int_eq(attr_scan(msg, request_specs, ARRAY_LEN(request_specs),
				   &req, &error),
			 0);
	ck_assert_str_eq(req.verb, "put");
	ck_assert_int_eq(req.size, 3);
	ck_assert_uint_eq(req.blob_len, sizeof(bin));
	ck_assert_mem_eq(req.blob, bin, sizeof(bin));
	ck_assert_ptr_null(req.note);
	attr_msg_free(&msg);
	strbuf_free(&out);
}

END_TEST

/* attr_suite - every attr test */
static Suite *attr_suite(void)
{
	Suite *s = suite_create("attr");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_wire_format);
	tcase_add_test(tc, test_incremental);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_scan);
	tcase_add_test(tc, test_scan_data);
	suite_add_tcase(s, tc);
	return s;
}

/* main - run the suite */
int main(void)
{
	SRunner *sr = srunner_create(attr_suite());
	int failed;

	log_init("postern", "test_attr");
	log_set_syslog(false);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
