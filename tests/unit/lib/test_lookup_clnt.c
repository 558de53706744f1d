/*
 * NAME
 *	test_lookup_clnt - unit tests for lib/lookup_clnt.c against a fake
 *	proxyd
 * SYNOPSIS
 *	build/unit/lib/test_lookup_clnt
 * DESCRIPTION
 *	A thread plays proxyd on a UNIX socket: it says hello, answers
 *	each lookup with "TABLE:KEY" (a key starting "nokey" is not found,
 *	one starting "hangup" closes the connection unanswered) and counts
 *	the requests and the most it found in one read. The tests check
 *	that lookup_prefetch() sends its lookups in one write and that
 *	lookup_query() then answers them without asking proxyd, exactly
 *	as proxyd answered; that other lookups and everything after
 *	lookup_prefetch_drop() go to proxyd; and that a failed prefetch
 *	leaves the lookups to ask for themselves on a new connection.
 * DIAGNOSTICS
 *	Check's report; exit status 1 when a test fails.
 */
#include "sys_defs.h"

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include "attr.h"
#include "ipc.h"
#include "log.h"
#include "lookup_clnt.h"
#include "proto_proxyd.h"
#include "strbuf.h"
#include "xalloc.h"

static char sock_path[128];
static int listen_fd = -1;
static pthread_t server_thread;
static atomic_int requests;     /* lookups answered or hung up on */
static atomic_int most_at_once; /* most requests decoded from one read */
static atomic_int connections;

/* served, batched, connected - what the fake proxyd has seen so far */
static int served(void)
{
	return atomic_load(&requests);
}

static int batched(void)
{
	return atomic_load(&most_at_once);
}

static int connected(void)
{
	return atomic_load(&connections);
}

/* fake_answer - decode and answer what in holds; false: hang up */
static bool fake_answer(int fd, struct strbuf *in, struct attr_msg *msg,
			int *decoded_r)
{
	struct strbuf *out = strbuf_alloc(256);
	struct proxyd_request req;
	const char *err;
	size_t used;
	bool keep = true;

	*decoded_r = 0;
	while (attr_decode(in->data, in->len, msg, &used, &err) > 0) {
		strbuf_consume(in, used);
		ck_assert_int_eq(proxyd_request_decode(msg, &req, &err), 0);
		ck_assert_int_eq(req.kind, PROXYD_KIND_LOOKUP);
		atomic_fetch_add(&requests, 1);
		(*decoded_r)++;
		if (strncmp(req.key, "hangup", 6) == 0) {
			keep = false;
			break;
		}
		if (strncmp(req.key, "nokey", 5) == 0) {
			attr_put_str(out, ATTR_STATUS, "nokey");
		} else {
			struct strbuf *value = strbuf_alloc(64);

			strbuf_printf(value, "%s:%s", req.table, req.key);
			attr_put_str(out, ATTR_STATUS, "ok");
			attr_put_str(out, PROXYD_ATTR_VALUE, value->data);
			strbuf_free(&value);
		}
		attr_put_end(out);
	}
	/* Counted before the replies go: the client checks the counts as
	 * soon as it has them. */
	if (*decoded_r > atomic_load(&most_at_once))
		atomic_store(&most_at_once, *decoded_r);
	if (out->len > 0)
		ck_assert_int_eq(ipc_write_all(fd, out->data, out->len, 5000),
				 0);
	strbuf_free(&out);
	return keep;
}

/* fake_proxyd - serve connections one after the other until the
 * listening socket is shut down */
static void *fake_proxyd(void *arg)
{
	struct attr_msg *msg = attr_msg_alloc();
	struct strbuf *in = strbuf_alloc(1024);
	int fd;

	(void)arg;
	while ((fd = accept(listen_fd, NULL, NULL)) >= 0) {
		struct strbuf *hello = strbuf_alloc(64);
		int decoded;

		atomic_fetch_add(&connections, 1);
		attr_put_str(hello, ATTR_PROTOCOL, PROXYD_PROTOCOL);
		attr_put_int(hello, ATTR_VERSION, PROXYD_VERSION);
		attr_put_end(hello);
		ck_assert_int_eq(
		    ipc_write_all(fd, hello->data, hello->len, 5000), 0);
		strbuf_free(&hello);
		strbuf_reset(in);
		while (ipc_read_some(fd, in, 65536, 5000) > 0) {
			bool keep = fake_answer(fd, in, msg, &decoded);

			if (!keep)
				break;
		}
		(void)close(fd);
	}
	strbuf_free(&in);
	attr_msg_free(&msg);
	return NULL;
}

static void setup(void)
{
	char dir[] = "/tmp/test_lookup_clnt.XXXXXX";

	ck_assert_ptr_nonnull(mkdtemp(dir));
	(void)snprintf(sock_path, sizeof(sock_path), "%s/proxyd", dir);
	listen_fd = ipc_listen_unix(sock_path, 0600, 16);
	ck_assert_int_ge(listen_fd, 0);
	atomic_store(&requests, 0);
	atomic_store(&most_at_once, 0);
	atomic_store(&connections, 0);
	ck_assert_int_eq(
	    pthread_create(&server_thread, NULL, fake_proxyd, NULL), 0);
}

static void teardown(void)
{
	char *dir = xstrdup(sock_path);

	(void)shutdown(listen_fd, SHUT_RDWR);
	ck_assert_int_eq(pthread_join(server_thread, NULL), 0);
	(void)close(listen_fd);
	(void)unlink(sock_path);
	*strrchr(dir, '/') = '\0';
	(void)rmdir(dir);
	free(dir);
}

/* query - lookup_query, checking the answer */
static void query(struct lookup_clnt *c, const char *table, const char *key,
		  int want)
{
	struct strbuf *value = strbuf_alloc(64);
	struct strbuf *expect = strbuf_alloc(64);
	const char *err = NULL;

	ck_assert_int_eq(lookup_query(c, table, key, value, &err), want);
	if (want == LOOKUP_OK) {
		strbuf_printf(expect, "%s:%s", table, key);
		ck_assert_str_eq(value->data, expect->data);
	} else {
		ck_assert_str_eq(value->data, "");
		ck_assert_ptr_nonnull(err);
		ck_assert_ptr_nonnull(strstr(err, "nokey"));
	}
	strbuf_free(&value);
	strbuf_free(&expect);
}

/* test_prefetch - one write, answers as proxyd gave them, kept until
 * dropped */
START_TEST(test_prefetch)
{
	static const struct lookup_key keys[] = {
	    {LOOKUP_TABLE_MAILBOXES, "a@example.com"},
	    {LOOKUP_TABLE_ALIASES, "a@example.com"},
	    {LOOKUP_TABLE_LIMITS, "nokey@example.com"},
	    {LOOKUP_TABLE_DOMAIN_LIMITS, "example.com"},
	};
	struct lookup_clnt *c = lookup_clnt_create(sock_path, 5000);

	lookup_prefetch(c, keys, ARRAY_LEN(keys));
	ck_assert_int_eq(served(), 4);
	ck_assert_int_eq(batched(), 4);
	/* Answered from the memo, as often as asked. */
	query(c, LOOKUP_TABLE_MAILBOXES, "a@example.com", LOOKUP_OK);
	query(c, LOOKUP_TABLE_ALIASES, "a@example.com", LOOKUP_OK);
	query(c, LOOKUP_TABLE_ALIASES, "a@example.com", LOOKUP_OK);
	query(c, LOOKUP_TABLE_LIMITS, "nokey@example.com", LOOKUP_NOKEY);
	query(c, LOOKUP_TABLE_DOMAIN_LIMITS, "example.com", LOOKUP_OK);
	ck_assert_int_eq(served(), 4);
	/* Another table or key asks proxyd. */
	query(c, LOOKUP_TABLE_LIMITS, "a@example.com", LOOKUP_OK);
	query(c, LOOKUP_TABLE_MAILBOXES, "b@example.com", LOOKUP_OK);
	ck_assert_int_eq(served(), 6);
	/* After the drop, nothing is answered from the memo. */
	lookup_prefetch_drop(c);
	query(c, LOOKUP_TABLE_MAILBOXES, "a@example.com", LOOKUP_OK);
	ck_assert_int_eq(served(), 7);
	ck_assert_int_eq(connected(), 1);
	lookup_clnt_free(&c);
	ck_assert_ptr_null(c);
}

END_TEST

/* test_prefetch_failed - a prefetch cut short leaves nothing behind */
START_TEST(test_prefetch_failed)
{
	static const struct lookup_key keys[] = {
	    {LOOKUP_TABLE_MAILBOXES, "a@example.com"},
	    {LOOKUP_TABLE_ALIASES, "hangup@example.com"},
	    {LOOKUP_TABLE_LIMITS, "a@example.com"},
	};
	struct lookup_clnt *c = lookup_clnt_create(sock_path, 5000);

	lookup_prefetch(c, keys, ARRAY_LEN(keys));
	ck_assert_int_eq(served(), 2);
	/* The first answer had arrived, but nothing is kept: a new
	 * connection answers. */
	query(c, LOOKUP_TABLE_MAILBOXES, "a@example.com", LOOKUP_OK);
	ck_assert_int_eq(served(), 3);
	ck_assert_int_eq(connected(), 2);
	lookup_clnt_free(&c);
}

END_TEST

static Suite *lookup_clnt_suite(void)
{
	Suite *s = suite_create("lookup_clnt");
	TCase *tc = tcase_create("prefetch");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_prefetch);
	tcase_add_test(tc, test_prefetch_failed);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(lookup_clnt_suite());
	int failed;

	log_init("postern", "test_lookup_clnt");
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
