/*
 * NAME
 *	test_anvil_serve - the anvil protocol, server and client together
 * SYNOPSIS
 *	build/unit/daemons/anvil/test_anvil_serve
 * DESCRIPTION
 *	A child process serves a UNIX socket in a fresh directory with
 *	anvil_serve() from its own event loop; the test talks to it with
 *	the client of lib/proto_anvil.h (and raw attribute messages for
 *	malformed requests). Checked: the concurrency and rate limits and
 *	their replies, disconnect, that closing a client connection
 *	disconnects what it registered, AUTH rate and failure limits that
 *	add up across connections, lookup, status=bad for garbage, and
 *	that a client with no server fails (the caller fails open).
 * DIAGNOSTICS
 *	Check's report; exit status 1 when a test fails.
 */
#include "sys_defs.h"

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "attr.h"
#include "event.h"
#include "ipc.h"
#include "log.h"
#include "params.h"
#include "proto_anvil.h"
#include "server.h"
#include "strbuf.h"
#include "xalloc.h"
#include "../../../../daemons/anvil/anvil.h"

#define TIMEOUT_MS 10000

static char tmpdir[64];
static char sock_path[128];
static pid_t server_pid;

/* accept_cb - the child's listener: one more client for anvil_serve */
static void accept_cb(struct ev_loop *loop, int lfd, int events, void *ctx)
{
	struct server *srv = ctx;
	/* cppcheck-suppress nullPointer ; accept4(2) takes NULL, NULL when
	 * the peer address is not wanted (cppcheck's gnu.cfg says not) */
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	(void)loop;
	(void)events;
	if (fd < 0)
		return;
	srv->clients_active++;
	anvil_serve(srv, fd);
}

/* setup - start a server in a child process */
static void setup(void)
{
	int lfd;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/postern-unit.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(sock_path, sizeof(sock_path), "%s/anvil", tmpdir);
	lfd = ipc_listen_unix(sock_path, 0600, 16);
	ck_assert_int_ge(lfd, 0);
	server_pid = fork();
	ck_assert_int_ge(server_pid, 0);
	if (server_pid == 0) {
		static const struct server_spec spec = {
		    .name = "anvil",
		    .model = SERVER_MULTI,
		};
		static struct server srv;
		struct strbuf why;
		const char *err;

		memset(&srv, 0, sizeof(srv));
		srv.spec = &spec;
		strbuf_init(&why, 64);
		config_defaults(&srv.cfg);
		if (config_set(&srv.cfg, "anvil_rate_time_unit", "3600s",
			       &err) < 0 ||
		    config_finish(&srv.cfg, &why) < 0)
			_exit(1);
		srv.loop = ev_create();
		srv.listen_fd = lfd;
		anvil_serve_init(&srv);
		ev_fd_set(srv.loop, lfd, EV_READ, accept_cb, &srv);
		(void)ev_run(srv.loop);
		_exit(0);
	}
	(void)close(lfd);
}

/* teardown - stop the server, remove the directory */
static void teardown(void)
{
	(void)kill(server_pid, SIGKILL);
	(void)waitpid(server_pid, NULL, 0);
	(void)unlink(sock_path);
	(void)rmdir(tmpdir);
}

/* clnt - a fresh client connection */
static struct anvil_clnt *clnt(void)
{
	return anvil_clnt_create(sock_path, TIMEOUT_MS);
}

START_TEST(test_concurrency_limit)
{
	const struct timespec tick = {0, 10000000L}; /* 10 ms */
	struct anvil_clnt *a = clnt(), *b = clnt(), *c = clnt();
	struct anvil_result res;
	int i;

	ck_assert_int_eq(anvil_clnt_connect(a, "smtp", "192.0.2.1", 2, 0, &res),
			 ANVIL_STAT_OK);
	ck_assert_int_eq(res.count, 1);
	ck_assert_int_eq(anvil_clnt_connect(b, "smtp", "192.0.2.1", 2, 0, &res),
			 ANVIL_STAT_OK);
	ck_assert_int_eq(res.count, 2);
	/* The third is over the limit, and counted until it goes. */
	ck_assert_int_eq(anvil_clnt_connect(c, "smtp", "192.0.2.1", 2, 0, &res),
			 ANVIL_STAT_LIMIT);
	ck_assert_str_eq(res.limit, ANVIL_LIMIT_COUNT);
	ck_assert_int_eq(res.count, 3);
	ck_assert_int_eq(res.rate, 3);
	/* Another service, another address: their own counts. */
	ck_assert_int_eq(
	    anvil_clnt_connect(c, "submission", "192.0.2.1", 2, 0, &res),
	    ANVIL_STAT_OK);
	ck_assert_int_eq(res.count, 1);
	ck_assert_int_eq(anvil_clnt_connect(c, "smtp", "192.0.2.2", 2, 0, &res),
			 ANVIL_STAT_OK);
	ck_assert_int_eq(res.count, 1);
	/* An explicit disconnect; a second one finds nothing. */
	ck_assert_int_eq(anvil_clnt_disconnect(c, "smtp", "192.0.2.1", &res),
			 ANVIL_STAT_OK);
	ck_assert_int_eq(res.count, 2);
	ck_assert_int_eq(anvil_clnt_disconnect(c, "smtp", "192.0.2.1", &res),
			 ANVIL_STAT_NOKEY);
	/* Closing a connection disconnects what it registered (once
	 * anvil has read the end of file: until then c stays over). */
	anvil_clnt_free(&a);
	ck_assert_ptr_null(a);
	for (i = 0; i < 1000; i++) {
		if (anvil_clnt_connect(c, "smtp", "192.0.2.1", 2, 0, &res) ==
		    ANVIL_STAT_OK)
			break;
		ck_assert_int_eq(
		    anvil_clnt_disconnect(c, "smtp", "192.0.2.1", &res),
		    ANVIL_STAT_OK);
		(void)nanosleep(&tick, NULL);
	}
	ck_assert_int_eq(res.status, ANVIL_STAT_OK);
	ck_assert_int_eq(res.count, 2);
	anvil_clnt_free(&b);
	anvil_clnt_free(&c);
}

END_TEST

START_TEST(test_rate_limit)
{
	struct anvil_clnt *a = clnt();
	struct anvil_result res;
	int i;

	for (i = 1; i <= 3; i++) {
		ck_assert_int_eq(
		    anvil_clnt_connect(a, "smtp", "192.0.2.1", 0, 3, &res),
		    ANVIL_STAT_OK);
		ck_assert_int_eq(res.rate, i);
		ck_assert_int_eq(
		    anvil_clnt_disconnect(a, "smtp", "192.0.2.1", &res),
		    ANVIL_STAT_OK);
		ck_assert_int_eq(res.count, 0);
	}
	ck_assert_int_eq(anvil_clnt_connect(a, "smtp", "192.0.2.1", 0, 3, &res),
			 ANVIL_STAT_LIMIT);
	ck_assert_str_eq(res.limit, ANVIL_LIMIT_RATE);
	ck_assert_int_eq(res.rate, 4);
	ck_assert_int_eq(res.count, 1);
	/* Without limits nothing is ever over. */
	ck_assert_int_eq(anvil_clnt_connect(a, "smtp", "192.0.2.1", 0, 0, &res),
			 ANVIL_STAT_OK);
	ck_assert_int_eq(res.rate, 5);
	anvil_clnt_free(&a);
}

END_TEST

START_TEST(test_auth_limits)
{
	struct anvil_clnt *a = clnt(), *b = clnt();
	struct anvil_result res;

	ck_assert_int_eq(anvil_clnt_auth(a, "smtp", "192.0.2.1", 2, 3, &res),
			 ANVIL_STAT_OK);
	ck_assert_int_eq(res.auth_rate, 1);
	ck_assert_int_eq(anvil_clnt_auth(a, "smtp", "192.0.2.1", 2, 3, &res),
			 ANVIL_STAT_OK);
	ck_assert_int_eq(anvil_clnt_auth(a, "smtp", "192.0.2.1", 2, 3, &res),
			 ANVIL_STAT_LIMIT);
	ck_assert_str_eq(res.limit, ANVIL_LIMIT_AUTH_RATE);
	ck_assert_int_eq(res.auth_rate, 3);
	/* Failures add up across connections: the third reaches 3. */
	ck_assert_int_eq(
	    anvil_clnt_auth_failure(a, "smtp", "192.0.2.2", 3, &res),
	    ANVIL_STAT_OK);
	ck_assert_int_eq(res.failures, 1);
	anvil_clnt_free(&a);
	ck_assert_int_eq(
	    anvil_clnt_auth_failure(b, "smtp", "192.0.2.2", 3, &res),
	    ANVIL_STAT_OK);
	ck_assert_int_eq(
	    anvil_clnt_auth_failure(b, "smtp", "192.0.2.2", 3, &res),
	    ANVIL_STAT_LIMIT);
	ck_assert_str_eq(res.limit, ANVIL_LIMIT_AUTH_FAILURE);
	ck_assert_int_eq(res.failures, 3);
	/* A client at the failure limit may not even try again. */
	ck_assert_int_eq(anvil_clnt_auth(b, "smtp", "192.0.2.2", 0, 3, &res),
			 ANVIL_STAT_LIMIT);
	ck_assert_str_eq(res.limit, ANVIL_LIMIT_AUTH_FAILURE);
	ck_assert_int_eq(anvil_clnt_auth(b, "smtp", "192.0.2.3", 0, 3, &res),
			 ANVIL_STAT_OK);
	anvil_clnt_free(&b);
}

END_TEST

/* raw_request - send one encoded message, return the reply's status */
static char *raw_request(const char *encoded, size_t len)
{
	struct strbuf in, out;
	struct attr_msg *msg = attr_msg_alloc();
	const char *error = NULL;
	char *status = NULL;
	int fd = ipc_connect_unix(sock_path, TIMEOUT_MS);

	ck_assert_msg(fd >= 0, "connect %s: %s", sock_path, strerror(errno));
	strbuf_init(&in, 64);
	strbuf_init(&out, 64);
	ck_assert_int_eq(attr_expect_hello(fd, &in, ANVIL_PROTOCOL,
					   ANVIL_VERSION, TIMEOUT_MS, &error),
			 0);
	(void)strbuf_catn(&out, encoded, len);
	ck_assert_int_eq(attr_write(fd, &out, TIMEOUT_MS), 0);
	if (attr_read(fd, &in, msg, TIMEOUT_MS, &error) == 0)
		status = xstrdup(attr_get_str(msg, ATTR_STATUS));
	(void)close(fd);
	strbuf_release(&in);
	strbuf_release(&out);
	attr_msg_free(&msg);
	return status;
}

START_TEST(test_lookup_and_bad_requests)
{
	static const struct {
		const char *encoded;
		const char *want;
	} cases[] = {
	    {"7:request,6:lookup,7:service,4:smtp,4:addr,9:192.0.2.9,0:,",
	     "nokey"},
	    {"7:request,5:fetch,7:service,4:smtp,4:addr,9:192.0.2.9,0:,",
	     "bad"},
	    {"7:request,7:connect,7:service,4:smtp,0:,", "bad"},
	    {"7:request,7:connect,7:service,4:smtp,4:addr,3:a b,0:,", "bad"},
	    {"7:request,7:connect,7:service,0:,4:addr,1:a,0:,", "bad"},
	    {"7:request,7:connect,7:service,4:smtp,4:addr,1:a,"
	     "11:count_limit,2:-1,0:,",
	     "bad"},
	    {"7:request,4:auth,7:service,4:smtp,4:addr,1:a,"
	     "11:count_limit,1:1,0:,",
	     "bad"},
	    {"4:addr,1:a,0:,", "bad"},
	    {"x:,", "bad"},
	};
	struct anvil_clnt *a = clnt();
	struct anvil_result res;
	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		char *got =
		    raw_request(cases[i].encoded, strlen(cases[i].encoded));

		ck_assert_msg(got != NULL && strcmp(got, cases[i].want) == 0,
			      "case %zu: got %s want %s", i,
			      got ? got : "(none)", cases[i].want);
		free(got);
	}
	/* The server survived all that and still counts. */
	ck_assert_int_eq(anvil_clnt_connect(a, "smtp", "192.0.2.9", 0, 0, &res),
			 ANVIL_STAT_OK);
	ck_assert_int_eq(
	    anvil_clnt_auth_failure(a, "smtp", "192.0.2.9", 0, &res),
	    ANVIL_STAT_OK);
	{
		static const char req[] = "7:request,6:lookup,7:service,4:smtp,"
					  "4:addr,9:192.0.2.9,0:,";
		char *got = raw_request(req, sizeof(req) - 1);

		ck_assert_str_eq(got, "ok");
		free(got);
	}
	anvil_clnt_free(&a);
}

END_TEST

START_TEST(test_no_server_fails)
{
	struct anvil_clnt *a = anvil_clnt_create("/nonexistent/anvil", 1000);
	struct anvil_result res;

	ck_assert_int_eq(anvil_clnt_connect(a, "smtp", "192.0.2.1", 1, 1, &res),
			 ANVIL_STAT_FAIL);
	ck_assert_msg(strstr(res.reason, "/nonexistent/anvil: connect:") !=
			  NULL,
		      "%s", res.reason);
	/* Nothing was registered: no request for the disconnect. */
	ck_assert_int_eq(anvil_clnt_disconnect(a, "smtp", "192.0.2.1", &res),
			 ANVIL_STAT_NOKEY);
	anvil_clnt_free(&a);
}

END_TEST

/* anvil_serve_suite - every test */
static Suite *anvil_serve_suite(void)
{
	Suite *s = suite_create("anvil_serve");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_concurrency_limit);
	tcase_add_test(tc, test_rate_limit);
	tcase_add_test(tc, test_auth_limits);
	tcase_add_test(tc, test_lookup_and_bad_requests);
	tcase_add_test(tc, test_no_server_fails);
	suite_add_tcase(s, tc);
	return s;
}

/* main - run the suite */
int main(void)
{
	SRunner *sr = srunner_create(anvil_serve_suite());
	int failed;

	log_init("postern", "test_anvil_serve");
	log_set_syslog(false);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
