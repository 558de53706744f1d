/*
 * NAME
 *	test_proto_deliver - unit tests for lib/proto_deliver.c
 * SYNOPSIS
 *	build/unit/lib/test_proto_deliver
 * DESCRIPTION
 *	A request with a passed descriptor and a reply round-trip over a
 *	socketpair; a clean close between requests; malformed requests
 *	(missing, duplicate, unknown and out-of-range attributes, no
 *	descriptor) are refused; DSN syntax; a reply that lacks a result.
 * DIAGNOSTICS
 *	Check's report; exit status 1 when a test fails.
 */
#include "sys_defs.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/socket.h>

#include "attr.h"
#include "ipc.h"
#include "log.h"
#include "proto_deliver.h"
#include "strbuf.h"

/* test_roundtrip - request with fd, reply with results */
START_TEST(test_roundtrip)
{
	struct deliver_request out, in;
	struct strbuf *inbuf = strbuf_alloc(64);
	struct strbuf *cbuf = strbuf_alloc(64);
	const char *err = "";
	char tmpl[] = "/tmp/test_proto_deliver.XXXXXX";
	char got[16];
	int sv[2];
	int fd;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fd = mkstemp(tmpl);
	ck_assert_int_ge(fd, 0);
	(void)unlink(tmpl);
	ck_assert_int_eq(write(fd, "HEADERbody\n", 11), 11);

	deliver_request_init(&out);
	out.queue_id = strdup("4AbC9");
	out.sender = strdup("");
	out.content_offset = 6;
	out.content_length = 5;
	out.arrival = 1700000000;
	out.fd = fd;
	ck_assert_int_eq(deliver_request_add_rcpt(&out, "a@example.com",
						  "rfc822;A@example.com"),
			 0);
	ck_assert_int_eq(deliver_request_add_rcpt(&out, "b@example.com", ""),
			 0);
	ck_assert_int_eq(deliver_request_send(sv[0], &out, 5000), 0);

	deliver_request_init(&in);
	ck_assert_int_eq(deliver_request_read(sv[1], inbuf, &in, 5000, &err),
			 1);
	ck_assert_str_eq(in.queue_id, "4AbC9");
	ck_assert_str_eq(in.sender, "");
	ck_assert_int_eq(in.content_offset, 6);
	ck_assert_int_eq(in.content_length, 5);
	ck_assert_int_eq(in.arrival, 1700000000);
	ck_assert_uint_eq(in.nrcpt, 2);
	ck_assert_str_eq(in.rcpt[0].address, "a@example.com");
	ck_assert_str_eq(in.rcpt[0].orcpt, "rfc822;A@example.com");
	ck_assert_str_eq(in.rcpt[1].orcpt, "");
	ck_assert_int_ge(in.fd, 0);
	ck_assert_int_eq(pread(in.fd, got, 5, 6), 5);
	ck_assert(memcmp(got, "body\n", 5) == 0);

	deliver_set_result(&in.rcpt[0], DELIVER_OK, "2.0.0", "delivered");
	deliver_set_result(&in.rcpt[1], DELIVER_BOUNCE, "5.1.1",
			   "unknown user: %s", in.rcpt[1].address);
	in.relay = strdup("virtual");
	ck_assert_int_eq(deliver_reply_send(sv[1], &in, 5000), 0);
	ck_assert_int_eq(deliver_reply_read(sv[0], cbuf, &out, 5000, &err), 0);
	ck_assert_str_eq(out.relay, "virtual");
	ck_assert_int_eq(out.rcpt[0].status, DELIVER_OK);
	ck_assert_str_eq(out.rcpt[0].dsn, "2.0.0");
	ck_assert_int_eq(out.rcpt[1].status, DELIVER_BOUNCE);
	ck_assert_str_eq(out.rcpt[1].dsn, "5.1.1");
	ck_assert_str_eq(out.rcpt[1].reason, "unknown user: b@example.com");

	/* The client closes: the agent sees a clean end. */
	deliver_request_release(&out);
	(void)close(sv[0]);
	ck_assert_int_eq(deliver_request_read(sv[1], inbuf, &in, 5000, &err),
			 0);
	ck_assert_int_eq(in.fd, -1);
	(void)close(sv[1]);
	strbuf_free(&inbuf);
	strbuf_free(&cbuf);
}

END_TEST

/* ipc_send_fd_for_test - send msg with /dev/null attached */
static int ipc_send_fd_for_test(int sock, const char *msg)
{
	int fd = open("/dev/null", O_RDONLY);
	int ret;

	if (fd < 0)
		return -1;
	ret = ipc_send_fd(sock, fd, msg, strlen(msg));
	(void)close(fd);
	return ret;
}

/* test_malformed - strict decoding of requests */
START_TEST(test_malformed)
{
	static const struct {
		const char *msg;
		bool with_fd;
	} cases[] = {
	    /* no nrcpt */
	    {"7:request,7:deliver,8:queue_id,1:A,6:sender,0:,14:content_offset"
	     ",1:0,14:content_length,1:0,7:arrival,1:0,6:rcpt_0,1:a,0:,",
	     true},
	    /* rcpt beyond nrcpt */
	    {"7:request,7:deliver,8:queue_id,1:A,6:sender,0:,14:content_offset"
	     ",1:0,14:content_length,1:0,7:arrival,1:0,5:nrcpt,1:1,6:rcpt_0,1:"
	     "a,6:rcpt_1,1:b,0:,",
	     true},
	    /* missing rcpt_0 */
	    {"7:request,7:deliver,8:queue_id,1:A,6:sender,0:,14:content_offset"
	     ",1:0,14:content_length,1:0,7:arrival,1:0,5:nrcpt,1:1,0:,",
	     true},
	    /* duplicate sender */
	    {"7:request,7:deliver,8:queue_id,1:A,6:sender,0:,6:sender,0:,14:co"
	     "ntent_offset,1:0,14:content_length,1:0,7:arrival,1:0,5:nrcpt,1:1"
	     ",6:rcpt_0,1:a,0:,",
	     true},
	    /* unknown attribute */
	    {"7:request,7:deliver,8:queue_id,1:A,6:sender,0:,14:content_offset"
	     ",1:0,14:content_length,1:0,7:arrival,1:0,5:nrcpt,1:1,6:rcpt_0,1:"
	     "a,5:extra,1:x,0:,",
	     true},
	    /* leading zero index */
	    {"7:request,7:deliver,8:queue_id,1:A,6:sender,0:,14:content_offset"
	     ",1:0,14:content_length,1:0,7:arrival,1:0,5:nrcpt,1:1,7:rcpt_00,1"
	     ":a,0:,",
	     true},
	    /* negative offset */
	    {"7:request,7:deliver,8:queue_id,1:A,6:sender,0:,14:content_offset"
	     ",2:-1,14:content_length,1:0,7:arrival,1:0,5:nrcpt,1:1,6:rcpt_0,1"
	     ":a,0:,",
	     true},
	    /* control character in a recipient */
	    {"7:request,7:deliver,8:queue_id,1:A,6:sender,0:,14:content_offset"
	     ",1:0,14:content_length,1:0,7:arrival,1:0,5:nrcpt,1:1,6:rcpt_0,3:"
	     "a\nb,0:,",
	     true},
	    /* a good request, but no descriptor */
	    {"7:request,7:deliver,8:queue_id,1:A,6:sender,0:,14:content_offset"
	     ",1:0,14:content_length,1:0,7:arrival,1:0,5:nrcpt,1:1,6:rcpt_0,1:"
	     "a,0:,",
	     false},
	};

	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		struct deliver_request req;
		struct strbuf *inbuf = strbuf_alloc(64);
		const char *err = NULL;
		int sv[2];

		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		if (cases[i].with_fd)
			ck_assert_int_eq(
			    ipc_send_fd_for_test(sv[0], cases[i].msg), 0);
		else
			ck_assert_int_eq(
			    write(sv[0], cases[i].msg, strlen(cases[i].msg)),
			    (ssize_t)strlen(cases[i].msg));
		deliver_request_init(&req);
		ck_assert_msg(
		    deliver_request_read(sv[1], inbuf, &req, 5000, &err) == -1,
		    "case %zu accepted", i);
		ck_assert_ptr_nonnull(err);
		ck_assert_int_eq(req.fd, -1);
		(void)close(sv[0]);
		(void)close(sv[1]);
		strbuf_free(&inbuf);
	}
}

END_TEST

/* test_dsn - RFC 3463 syntax */
START_TEST(test_dsn)
{
	static const struct {
		const char *dsn;
		bool want;
	} cases[] = {
	    {"2.0.0", true},     {"4.3.5", true},  {"5.1.1", true},
	    {"5.123.456", true}, {"3.0.0", false}, {"5.1", false},
	    {"5.1.1.", false},   {"5..1", false},  {"5.1.1234", false},
	    {"", false},         {"x", false},
	};

	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++)
		ck_assert_msg(deliver_dsn_valid(cases[i].dsn) == cases[i].want,
			      "case %zu: %s", i, cases[i].dsn);
}

END_TEST

/* test_short_reply - a reply without every result is an error */
START_TEST(test_short_reply)
{
	struct deliver_request req;
	struct strbuf *buf = strbuf_alloc(64);
	const char *err = NULL;
	static const char reply[] = "6:status,2:ok,5:relay,7:virtual,"
				    "8:result_0,2:ok,5:dsn_0,5:2.0.0,0:,";
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	deliver_request_init(&req);
	(void)deliver_request_add_rcpt(&req, "a@x", "");
	(void)deliver_request_add_rcpt(&req, "b@x", "");
	ck_assert_int_eq(write(sv[1], reply, strlen(reply)),
			 (ssize_t)strlen(reply));
	ck_assert_int_eq(deliver_reply_read(sv[0], buf, &req, 5000, &err), -1);
	ck_assert_ptr_nonnull(err);
	deliver_request_release(&req);
	(void)close(sv[0]);
	(void)close(sv[1]);
	strbuf_free(&buf);
}

END_TEST

/* proto_deliver_suite - every proto_deliver test */
static Suite *proto_deliver_suite(void)
{
	Suite *s = suite_create("proto_deliver");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_dsn);
	tcase_add_test(tc, test_short_reply);
	suite_add_tcase(s, tc);
	return s;
}

/* main - run the suite */
int main(void)
{
	SRunner *sr = srunner_create(proto_deliver_suite());
	int failed;

	log_init("postern", "test_proto_deliver");
	log_set_syslog(false);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
