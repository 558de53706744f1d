/*
 * NAME
 *	test_proto_proxyd - unit tests for lib/proto_proxyd.c
 * SYNOPSIS
 *	build/unit/lib/test_proto_proxyd
 * DESCRIPTION
 *	Each kind of request encodes and decodes back to the same fields
 *	(strings exactly at their limits included); table-driven malformed
 *	requests: no or unknown verb, missing, duplicate, unknown and
 *	malformed attributes, a NUL inside a string, and every string one
 *	byte over its limit, each refused with its reason and with the
 *	request cleared. The status words map both ways.
 * DIAGNOSTICS
 *	Check's report; exit status 1 when a test fails.
 */
#include "sys_defs.h"

#include <check.h>

#include "attr.h"
#include "log.h"
#include "lookup_clnt.h"
#include "proto_proxyd.h"
#include "strbuf.h"

/* decode - attr_decode the whole of buf, then proxyd_request_decode */
static int decode(const struct strbuf *buf, struct attr_msg *msg,
		  struct proxyd_request *req, const char **err)
{
	size_t used = 0;

	ck_assert_int_eq(attr_decode(buf->data, buf->len, msg, &used, err), 1);
	ck_assert_uint_eq(used, buf->len);
	return proxyd_request_decode(msg, req, err);
}

/* repeat - a string of n copies of c (static buffer) */
static const char *repeat(char c, size_t n)
{
	static char buf[PROXYD_KEY_MAX + 2];

	ck_assert_uint_lt(n, sizeof(buf));
	memset(buf, c, n);
	buf[n] = '\0';
	return buf;
}

/* test_roundtrip - encode then decode gives the same request */
START_TEST(test_roundtrip)
{
	char table[PROXYD_TABLE_MAX + 1], key[PROXYD_KEY_MAX + 1];
	char password[PROXYD_PASSWORD_MAX + 1];
	struct proxyd_request in, out;
	struct attr_msg *msg = attr_msg_alloc();
	struct strbuf *buf = strbuf_alloc(64);
	const char *err = NULL;

	memcpy(table, repeat('t', PROXYD_TABLE_MAX), sizeof(table));
	memcpy(key, repeat('k', PROXYD_KEY_MAX), sizeof(key));
	memcpy(password, repeat('p', PROXYD_PASSWORD_MAX), sizeof(password));

	memset(&in, 0, sizeof(in));
	in.kind = PROXYD_KIND_LOOKUP;
	in.table = LOOKUP_TABLE_MAILBOXES;
	in.key = "User@Example.COM";
	proxyd_request_encode(buf, &in);
	ck_assert_int_eq(decode(buf, msg, &out, &err), 0);
	ck_assert_int_eq(out.kind, PROXYD_KIND_LOOKUP);
	ck_assert_str_eq(out.request, PROXYD_REQ_LOOKUP);
	ck_assert_str_eq(out.table, LOOKUP_TABLE_MAILBOXES);
	ck_assert_str_eq(out.key, "User@Example.COM");
	ck_assert_ptr_null(out.user);
	ck_assert_ptr_null(out.password);

	strbuf_reset(buf);
	in.table = table;
	in.key = key;
	proxyd_request_encode(buf, &in);
	ck_assert_int_eq(decode(buf, msg, &out, &err), 0);
	ck_assert_str_eq(out.table, table);
	ck_assert_str_eq(out.key, key);

	strbuf_reset(buf);
	memset(&in, 0, sizeof(in));
	in.kind = PROXYD_KIND_AUTH;
	in.user = key;
	in.password = password;
	proxyd_request_encode(buf, &in);
	ck_assert_int_eq(decode(buf, msg, &out, &err), 0);
	ck_assert_int_eq(out.kind, PROXYD_KIND_AUTH);
	ck_assert_str_eq(out.user, key);
	ck_assert_str_eq(out.password, password);
	ck_assert_ptr_null(out.table);
	ck_assert_ptr_null(out.key);

	strbuf_reset(buf);
	memset(&in, 0, sizeof(in));
	in.kind = PROXYD_KIND_QUOTA;
	in.user = "a@example.com";
	in.bytes = -9223372036854775807LL - 1;
	in.messages = 9223372036854775807LL;
	proxyd_request_encode(buf, &in);
	ck_assert_int_eq(decode(buf, msg, &out, &err), 0);
	ck_assert_int_eq(out.kind, PROXYD_KIND_QUOTA);
	ck_assert_str_eq(out.user, "a@example.com");
	ck_assert(out.bytes == in.bytes);
	ck_assert(out.messages == in.messages);
	ck_assert_ptr_null(out.password);

	strbuf_free(&buf);
	attr_msg_free(&msg);
}

END_TEST

/* One attribute of a hand-made request; len 0 = strlen(value). */
struct pair {
	const char *name;
	const char *value;
	size_t len;
};

static const struct {
	struct pair attrs[6];
	const char *want_error;
} bad_cases[] = {
    {{{"table", "t", 0}, {"key", "k", 0}}, "no request attribute"},
    {{{"request", "delete", 0}, {"key", "k", 0}}, "unknown request"},
    {{{"request", "Lookup", 0}, {"table", "t", 0}, {"key", "k", 0}},
     "unknown request"},
    {{{"request", "lookup", 0}, {"table", "t", 0}},
     "missing required attribute"},
    {{{"request", "lookup", 0},
      {"table", "t", 0},
      {"key", "k", 0},
      {"key", "k", 0}},
     "duplicate attribute"},
    {{{"request", "lookup", 0},
      {"request", "lookup", 0},
      {"table", "t", 0},
      {"key", "k", 0}},
     "duplicate attribute"},
    {{{"request", "lookup", 0},
      {"table", "t", 0},
      {"key", "k", 0},
      {"user", "u", 0}},
     "unexpected attribute"},
    {{{"request", "auth", 0},
      {"user", "u", 0},
      {"password", "p", 0},
      {"table", "t", 0}},
     "unexpected attribute"},
    {{{"request", "lookup", 0}, {"table", "t", 0}, {"key", "a\0b", 3}},
     "NUL byte in a string attribute"},
    {{{"request", "lookup\0x", 8}, {"table", "t", 0}, {"key", "k", 0}},
     "no request attribute"},
    {{{"request", "quota_update", 0},
      {"user", "u", 0},
      {"bytes", "12x", 0},
      {"messages", "1", 0}},
     "malformed integer attribute"},
    {{{"request", "quota_update", 0},
      {"user", "u", 0},
      {"bytes", "99999999999999999999", 0},
      {"messages", "1", 0}},
     "malformed integer attribute"},
    {{{"request", "quota_update", 0}, {"user", "u", 0}, {"bytes", "1", 0}},
     "missing required attribute"},
};

/* test_bad - malformed requests are refused with their reason */
START_TEST(test_bad)
{
	struct attr_msg *msg = attr_msg_alloc();
	struct strbuf *buf = strbuf_alloc(64);
	struct proxyd_request req;
	const char *err;
	size_t i, j;

	for (i = 0; i < ARRAY_LEN(bad_cases); i++) {
		strbuf_reset(buf);
		for (j = 0; j < ARRAY_LEN(bad_cases[i].attrs) &&
			    bad_cases[i].attrs[j].name != NULL;
		     j++) {
			const struct pair *p = &bad_cases[i].attrs[j];

			attr_put_data(buf, p->name, p->value,
				      p->len ? p->len : strlen(p->value));
		}
		attr_put_end(buf);
		err = NULL;
		ck_assert_msg(decode(buf, msg, &req, &err) == -1,
			      "case %zu: accepted", i);
		ck_assert_msg(err != NULL &&
				  strcmp(err, bad_cases[i].want_error) == 0,
			      "case %zu: error \"%s\", want \"%s\"", i,
			      err ? err : "(null)", bad_cases[i].want_error);
		ck_assert_msg(req.request == NULL && req.table == NULL &&
				  req.key == NULL && req.user == NULL &&
				  req.password == NULL && req.bytes == 0,
			      "case %zu: request not cleared", i);
	}
	strbuf_free(&buf);
	attr_msg_free(&msg);
}

END_TEST

/* test_limits - one byte over each limit is refused */
START_TEST(test_limits)
{
	struct attr_msg *msg = attr_msg_alloc();
	struct strbuf *buf = strbuf_alloc(64);
	struct proxyd_request in, out;
	const char *err = NULL;

	memset(&in, 0, sizeof(in));
	in.kind = PROXYD_KIND_LOOKUP;
	in.table = repeat('t', PROXYD_TABLE_MAX + 1);
	in.key = "k";
	proxyd_request_encode(buf, &in);
	ck_assert_int_eq(decode(buf, msg, &out, &err), -1);
	ck_assert_str_eq(err, "table name too long");
	ck_assert_ptr_null(out.table);

	strbuf_reset(buf);
	in.table = "t";
	in.key = repeat('k', PROXYD_KEY_MAX + 1);
	proxyd_request_encode(buf, &in);
	ck_assert_int_eq(decode(buf, msg, &out, &err), -1);
	ck_assert_str_eq(err, "key too long");

	strbuf_reset(buf);
	memset(&in, 0, sizeof(in));
	in.kind = PROXYD_KIND_AUTH;
	in.user = repeat('u', PROXYD_KEY_MAX + 1);
	in.password = "p";
	proxyd_request_encode(buf, &in);
	ck_assert_int_eq(decode(buf, msg, &out, &err), -1);
	ck_assert_str_eq(err, "user name too long");

	strbuf_reset(buf);
	in.user = "u";
	in.password = repeat('p', PROXYD_PASSWORD_MAX + 1);
	proxyd_request_encode(buf, &in);
	ck_assert_int_eq(decode(buf, msg, &out, &err), -1);
	ck_assert_str_eq(err, "password too long");
	ck_assert_ptr_null(out.user);

	strbuf_reset(buf);
	memset(&in, 0, sizeof(in));
	in.kind = PROXYD_KIND_QUOTA;
	in.user = repeat('u', PROXYD_KEY_MAX + 1);
	proxyd_request_encode(buf, &in);
	ck_assert_int_eq(decode(buf, msg, &out, &err), -1);
	ck_assert_str_eq(err, "user name too long");

	strbuf_free(&buf);
	attr_msg_free(&msg);
}

END_TEST

/* test_status - LOOKUP_* codes and wire words */
START_TEST(test_status)
{
	int s;

	for (s = LOOKUP_OK; s <= LOOKUP_BAD; s++)
		ck_assert_int_eq(proxyd_status_parse(proxyd_status_name(s)), s);
	ck_assert_str_eq(proxyd_status_name(99), "retry");
	ck_assert_int_eq(proxyd_status_parse("maybe"), -1);
}

END_TEST

static Suite *proto_proxyd_suite(void)
{
	Suite *s = suite_create("proto_proxyd");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_bad);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_status);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(proto_proxyd_suite());
	int failed;

	log_init("postern", "test_proto_proxyd");
	log_set_syslog(false);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
