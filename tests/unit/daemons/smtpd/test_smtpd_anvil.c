/*
 * NAME
 *	test_smtpd_anvil - unit tests for daemons/smtpd/smtpd_anvil.c
 * SYNOPSIS
 *	build/unit/daemons/smtpd/test_smtpd_anvil
 * DESCRIPTION
 *	smtpd's side of the limits with anvil mocked at link time (this
 *	file defines the anvil_clnt_* functions of lib/proto_anvil.h, so
 *	the library's are not linked): what each anvil answer turns into
 *	(the 421 reply, the Postfix warning, the end of the session), fail
 *	open when anvil fails, no request at all for exempt clients or
 *	when the limits are 0, the limits sent, and the disconnect at the
 *	end of the session.
 * DIAGNOSTICS
 *	Check's report; exit status 1 when a test fails.
 */
#include "sys_defs.h"

#include <check.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "params.h"
#include "proto_anvil.h"
#include "strbuf.h"
#include "xalloc.h"

#include "../../../../daemons/smtpd/smtpd.h"

/* What the mock anvil answers, and what it was asked. */
static struct anvil_result mock_res;
static struct strbuf mock_calls;
static struct strbuf warnings;

struct anvil_clnt {
	int dummy;
};

/* mock_answer - the canned result */
static enum anvil_stat mock_answer(struct anvil_result *res)
{
	*res = mock_res;
	return res->status;
}

/* anvil_clnt_create - mock */
struct anvil_clnt *anvil_clnt_create(const char *path, int timeout_ms)
{
	(void)strbuf_printf_append(&mock_calls, "create %s %d\n", path,
				   timeout_ms);
	return xcalloc(1, sizeof(struct anvil_clnt));
}

/* anvil_clnt_connect - mock */
enum anvil_stat anvil_clnt_connect(struct anvil_clnt *clnt, const char *service,
				   const char *addr, long long count_limit,
				   long long rate_limit,
				   struct anvil_result *res)
{
	(void)clnt;
	(void)strbuf_printf_append(&mock_calls, "connect %s %s %lld %lld\n",
				   service, addr, count_limit, rate_limit);
	return mock_answer(res);
}

/* anvil_clnt_disconnect - mock */
enum anvil_stat anvil_clnt_disconnect(struct anvil_clnt *clnt,
				      const char *service, const char *addr,
				      struct anvil_result *res)
{
	(void)clnt;
	(void)strbuf_printf_append(&mock_calls, "disconnect %s %s\n", service,
				   addr);
	memset(res, 0, sizeof(*res));
	return ANVIL_STAT_OK;
}

/* anvil_clnt_auth - mock */
enum anvil_stat anvil_clnt_auth(struct anvil_clnt *clnt, const char *service,
				const char *addr, long long rate_limit,
				long long failure_limit,
				struct anvil_result *res)
{
	(void)clnt;
	(void)strbuf_printf_append(&mock_calls, "auth %s %s %lld %lld\n",
				   service, addr, rate_limit, failure_limit);
	return mock_answer(res);
}

/* anvil_clnt_auth_failure - mock */
enum anvil_stat anvil_clnt_auth_failure(struct anvil_clnt *clnt,
					const char *service, const char *addr,
					long long failure_limit,
					struct anvil_result *res)
{
	(void)clnt;
	(void)strbuf_printf_append(&mock_calls, "auth_failure %s %s %lld\n",
				   service, addr, failure_limit);
	return mock_answer(res);
}

/* anvil_clnt_free - mock */
void anvil_clnt_free(struct anvil_clnt **clntp)
{
	(void)strbuf_cat(&mock_calls, "free\n");
	free(*clntp);
	*clntp = NULL;
}

/* capture - keep warnings */
static void capture(enum log_level level, const char *text)
{
	if (level == LOG_LEVEL_WARN) {
		(void)strbuf_cat(&warnings, text);
		(void)strbuf_addch(&warnings, '\n');
	}
}

static struct config cfg;
static struct smtpd_session sess;
static int sv[2];

/* setup - a session from "127.0.0.1" (a socketpair) on service smtp */
static void setup(void)
{
	const char *err;
	struct strbuf why;

	strbuf_init(&mock_calls, 256);
	strbuf_init(&warnings, 256);
	memset(&mock_res, 0, sizeof(mock_res));
	log_set_capture(capture);
	memset(&cfg, 0, sizeof(cfg));
	config_defaults(&cfg);
	strbuf_init(&why, 64);
	ck_assert_int_eq(config_set(&cfg, "myhostname", "mx.test", &err), 0);
	ck_assert_int_eq(config_set(&cfg, "queue_directory", "/q", &err), 0);
	ck_assert_int_eq(config_set(&cfg, "mynetworks", "192.0.2.0/24", &err),
			 0);
	ck_assert_int_eq(
	    config_set(&cfg, "smtpd_client_connection_rate_limit", "30", &err),
	    0);
	ck_assert_int_eq(
	    config_set(&cfg, "smtpd_client_auth_rate_limit", "7", &err), 0);
	ck_assert_int_eq(config_finish(&cfg, &why), 0);
	strbuf_release(&why);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	smtpd_session_init(&sess, &cfg, sv[0], sv[0]);
	smtpd_set_client(&sess, sv[0], false);
}

/* teardown - release the session and the mocks */
static void teardown(void)
{
	smtpd_session_release(&sess);
	(void)close(sv[0]);
	(void)close(sv[1]);
	config_release(&cfg);
	log_set_capture(NULL);
	strbuf_release(&mock_calls);
	strbuf_release(&warnings);
}

/* The reply queued for the client, as text. */
#define REPLY() strbuf_str(&sess.io.out)

START_TEST(test_connect_ok)
{
	mock_res.status = ANVIL_STAT_OK;
	mock_res.count = 3;
	ck_assert_int_eq(smtpd_anvil_connect(&sess), 0);
	ck_assert_str_eq(REPLY(), "");
	ck_assert_int_ne(sess.state, SMTPD_STATE_QUIT);
	ck_assert_str_eq(strbuf_str(&mock_calls),
			 "create /q/private/anvil 10000\n"
			 "connect smtp 127.0.0.1 50 30\n");
	ck_assert_str_eq(strbuf_str(&warnings), "");
	smtpd_anvil_done(&sess);
	ck_assert_str_eq(strbuf_str(&mock_calls),
			 "create /q/private/anvil 10000\n"
			 "connect smtp 127.0.0.1 50 30\n"
			 "disconnect smtp 127.0.0.1\nfree\n");
	ck_assert_ptr_null(sess.anvil);
}

END_TEST

START_TEST(test_connect_limits)
{
	static const struct {
		const char *limit;
		long long count, rate;
		const char *want_warning;
	} cases[] = {
	    {ANVIL_LIMIT_COUNT, 51, 51,
	     "warning: Connection concurrency limit exceeded: 51 from "
	     "localhost[127.0.0.1] for service submission\n"},
	    {ANVIL_LIMIT_RATE, 2, 31,
	     "warning: Connection rate limit exceeded: 31 from "
	     "localhost[127.0.0.1] "
	     "for service submission\n"},
	};

	size_t i;

	sess.service = "submission";
	for (i = 0; i < ARRAY_LEN(cases); i++) {
		strbuf_reset(&warnings);
		strbuf_reset(&sess.io.out);
		sess.state = SMTPD_STATE_GREET;
		mock_res.status = ANVIL_STAT_LIMIT;
		snprintf(mock_res.limit, sizeof(mock_res.limit), "%s",
			 cases[i].limit);
		mock_res.count = cases[i].count;
		mock_res.rate = cases[i].rate;
		ck_assert_int_eq(smtpd_anvil_connect(&sess), -1);
		ck_assert_str_eq(REPLY(), "421 4.7.0 mx.test Error: too many "
					  "connections from 127.0.0.1\r\n");
		ck_assert_int_eq(sess.state, SMTPD_STATE_QUIT);
		ck_assert_str_eq(strbuf_str(&warnings), cases[i].want_warning);
	}
}

END_TEST

START_TEST(test_fail_open)
{
	mock_res.status = ANVIL_STAT_FAIL;
	snprintf(mock_res.reason, sizeof(mock_res.reason),
		 "anvil /q/private/anvil: connect: No such file or directory");
	ck_assert_int_eq(smtpd_anvil_connect(&sess), 0);
	ck_assert_str_eq(REPLY(), "");
	ck_assert_int_ne(sess.state, SMTPD_STATE_QUIT);
	ck_assert_str_eq(
	    strbuf_str(&warnings),
	    "warning: anvil /q/private/anvil: connect: No such file or "
	    "directory; no connection limits for "
	    "localhost[127.0.0.1]\n");
	ck_assert_int_eq(smtpd_anvil_auth(&sess), 0);
	ck_assert_int_eq(smtpd_anvil_auth_failure(&sess), 0);
	ck_assert_int_ne(sess.state, SMTPD_STATE_QUIT);
	/* Nothing was counted: no disconnect. */
	smtpd_anvil_done(&sess);
	ck_assert_ptr_null(strstr(strbuf_str(&mock_calls), "disconnect"));
}

END_TEST

START_TEST(test_not_asked)
{
	const char *err;
	struct strbuf why;

	/* An exempt client: anvil is never asked. */
	sess.limits_exempt = true;
	ck_assert_int_eq(smtpd_anvil_connect(&sess), 0);
	ck_assert_int_eq(smtpd_anvil_auth(&sess), 0);
	ck_assert_int_eq(smtpd_anvil_auth_failure(&sess), 0);
	smtpd_anvil_done(&sess);
	ck_assert_str_eq(strbuf_str(&mock_calls), "");
	/* Every limit 0: the same. */
	sess.limits_exempt = false;
	strbuf_init(&why, 64);
	ck_assert_int_eq(
	    config_set(&cfg, "smtpd_client_connection_count_limit", "0", &err),
	    0);
	ck_assert_int_eq(
	    config_set(&cfg, "smtpd_client_connection_rate_limit", "0", &err),
	    0);
	ck_assert_int_eq(
	    config_set(&cfg, "smtpd_client_auth_rate_limit", "0", &err), 0);
	ck_assert_int_eq(
	    config_set(&cfg, "smtpd_client_auth_failure_limit", "0", &err), 0);
	ck_assert_int_eq(config_finish(&cfg, &why), 0);
	strbuf_release(&why);
	ck_assert_int_eq(smtpd_anvil_connect(&sess), 0);
	ck_assert_int_eq(smtpd_anvil_auth(&sess), 0);
	ck_assert_int_eq(smtpd_anvil_auth_failure(&sess), 0);
	ck_assert_str_eq(strbuf_str(&mock_calls), "");
}

END_TEST

START_TEST(test_exempt_by_default_is_mynetworks)
{
	struct smtpd_session s2;
	struct config c2;
	struct strbuf why;

	/* Defaults: mynetworks 127.0.0.0/8 ..., exceptions $mynetworks. */
	memset(&c2, 0, sizeof(c2));
	config_defaults(&c2);
	strbuf_init(&why, 64);
	ck_assert_int_eq(config_finish(&c2, &why), 0);
	ck_assert_str_eq(c2.smtpd_client_event_limit_exceptions, c2.mynetworks);
	smtpd_session_init(&s2, &c2, sv[1], sv[1]);
	smtpd_set_client(&s2, sv[1], false);
	ck_assert(s2.limits_exempt);
	smtpd_session_release(&s2);
	config_release(&c2);
	strbuf_release(&why);
	/* The fixture's session (mynetworks 192.0.2.0/24) is not. */
	ck_assert(!sess.limits_exempt);
}

END_TEST

START_TEST(test_auth)
{
	static const struct {
		bool failure; /* smtpd_anvil_auth_failure, not _auth */
		enum anvil_stat status;
		const char *limit;
		int want;
		const char *want_reply;
		const char *want_warning;
	} cases[] = {
	    {false, ANVIL_STAT_OK, "", 0, "", ""},
	    {false, ANVIL_STAT_LIMIT, ANVIL_LIMIT_AUTH_RATE, -1,
	     "421 4.7.0 mx.test Error: too many AUTH commands from "
	     "127.0.0.1\r\n",
	     "warning: AUTH command rate limit exceeded: 8 from "
	     "localhost[127.0.0.1] "
	     "for service smtp\n"},
	    {false, ANVIL_STAT_LIMIT, ANVIL_LIMIT_AUTH_FAILURE, -1,
	     "421 4.7.0 mx.test Error: too many failed authentication "
	     "attempts from "
	     "127.0.0.1\r\n",
	     "warning: AUTH failure limit exceeded: 10 from "
	     "localhost[127.0.0.1] for "
	     "service smtp\n"},
	    {true, ANVIL_STAT_OK, "", 0, "", ""},
	    {true, ANVIL_STAT_LIMIT, ANVIL_LIMIT_AUTH_FAILURE, -1,
	     "421 4.7.0 mx.test Error: too many failed authentication "
	     "attempts from "
	     "127.0.0.1\r\n",
	     "warning: AUTH failure limit exceeded: 10 from "
	     "localhost[127.0.0.1] for "
	     "service smtp\n"},
	};

	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		int got;

		strbuf_reset(&warnings);
		strbuf_reset(&sess.io.out);
		sess.state = SMTPD_STATE_READY;
		memset(&mock_res, 0, sizeof(mock_res));
		mock_res.status = cases[i].status;
		snprintf(mock_res.limit, sizeof(mock_res.limit), "%s",
			 cases[i].limit);
		mock_res.auth_rate = 8;
		mock_res.failures = 10;
		got = cases[i].failure ? smtpd_anvil_auth_failure(&sess)
				       : smtpd_anvil_auth(&sess);
		ck_assert_msg(got == cases[i].want, "case %zu: %d", i, got);
		ck_assert_msg(strcmp(REPLY(), cases[i].want_reply) == 0,
			      "case %zu: reply %s", i, REPLY());
		ck_assert_msg(
		    strcmp(strbuf_str(&warnings), cases[i].want_warning) == 0,
		    "case %zu: warning %s", i, strbuf_str(&warnings));
		ck_assert_int_eq(sess.state == SMTPD_STATE_QUIT,
				 cases[i].want < 0);
	}
	ck_assert_ptr_nonnull(
	    strstr(strbuf_str(&mock_calls), "auth smtp 127.0.0.1 7 10\n"));
	ck_assert_ptr_nonnull(strstr(strbuf_str(&mock_calls),
				     "auth_failure smtp 127.0.0.1 10\n"));
	/* AUTH alone registers no connection: no disconnect. */
	smtpd_anvil_done(&sess);
	ck_assert_ptr_null(strstr(strbuf_str(&mock_calls), "disconnect"));
}

END_TEST

/* smtpd_anvil_suite - every test */
static Suite *smtpd_anvil_suite(void)
{
	Suite *s = suite_create("smtpd_anvil");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_connect_ok);
	tcase_add_test(tc, test_connect_limits);
	tcase_add_test(tc, test_fail_open);
	tcase_add_test(tc, test_not_asked);
	tcase_add_test(tc, test_exempt_by_default_is_mynetworks);
	tcase_add_test(tc, test_auth);
	suite_add_tcase(s, tc);
	return s;
}

/* main - run the suite */
int main(void)
{
	SRunner *sr = srunner_create(smtpd_anvil_suite());
	int failed;

	log_init("postern", "test_smtpd_anvil");
	log_set_syslog(false);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
