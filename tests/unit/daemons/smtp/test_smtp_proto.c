/*
 * NAME
 *	test_smtp_proto - unit tests for the outbound SMTP client's engine
 * SYNOPSIS
 *	build/unit/daemons/smtp/test_smtp_proto
 * DESCRIPTION
 *	Reply-line parsing, enhanced status codes taken from replies,
 *	LF -> CRLF with dot-stuffing (split at every byte boundary),
 *	next-hop syntax, MX answer parsing from a hand-made DNS packet,
 *	and whole transactions against a scripted server on a socketpair
 *	(a forked child that checks each command and sends canned
 *	replies): accepted, per-recipient 4xx/5xx, 5xx greeting, a server
 *	that hangs up, multi-line replies.
 * DIAGNOSTICS
 *	Check's report; exit status 1 when a test fails.
 */
#include "sys_defs.h"

#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "log.h"
#include "strbuf.h"
#include "../../../../daemons/smtp/smtp.h"

START_TEST(test_reply_line)
{
	static const struct {
		const char *line;
		int ret, code;
		bool last;
	} cases[] = {
	    {"250 ok", 0, 250, true},      {"250-more", 0, 250, false},
	    {"220", 0, 220, true},         {"550 5.1.1 x", 0, 550, true},
	    {"25", -1, 0, false},          {"2x0 no", -1, 0, false},
	    {"250x", -1, 0, false},        {"650 bad class", -1, 0, false},
	    {"150 too low", -1, 0, false},
	};

	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		int code = 0;
		bool last = false;
		int r = smtp_reply_parse_line(
		    cases[i].line, strlen(cases[i].line), &code, &last);

		ck_assert_msg(r == cases[i].ret, "case %zu: ret %d", i, r);
		if (r == 0) {
			ck_assert_int_eq(code, cases[i].code);
			ck_assert(last == cases[i].last);
		}
	}
}

END_TEST

START_TEST(test_reply_dsn)
{
	static const struct {
		int code;
		const char *text, *want;
	} cases[] = {
	    {550, "550 5.1.1 <a@b>: unknown", "5.1.1"},
	    {451, "451 4.3.0 try later", "4.3.0"},
	    {550, "550 4.1.1 class mismatch", "5.0.0"},
	    {550, "550 no code here", "5.0.0"},
	    {421, "421", "4.0.0"},
	    {250, "250 2.0.0 Ok: queued", "2.0.0"},
	    {552, "552 5.3.4000 too long", "5.0.0"},
	    {554, "554 5.7.1", "5.7.1"},
	};

	char dsn[16];
	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		smtp_reply_dsn(cases[i].code, cases[i].text, dsn, sizeof(dsn));
		ck_assert_msg(strcmp(dsn, cases[i].want) == 0,
			      "case %zu: got %s want %s", i, dsn,
			      cases[i].want);
	}
}

END_TEST

START_TEST(test_stuff)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {"", ".\r\n"},
	    {"a\n", "a\r\n.\r\n"},
	    {"a", "a\r\n.\r\n"},
	    {".\n", "..\r\n.\r\n"},
	    {"x\n.y\n..z\n", "x\r\n..y\r\n...z\r\n.\r\n"},
	    {"a\r\nb\n", "a\r\nb\r\n.\r\n"},
	    {"a.b\n.", "a.b\r\n..\r\n.\r\n"},
	    {"\n\n", "\r\n\r\n.\r\n"},
	};
	struct strbuf *out = strbuf_alloc(64);
	struct smtp_stuff st;
	size_t i, split;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		size_t len = strlen(cases[i].in);

		/* every way of cutting the input in two gives the same */
		for (split = 0; split <= len; split++) {
			strbuf_reset(out);
			smtp_stuff_init(&st);
			smtp_stuff_data(&st, cases[i].in, split, out);
			smtp_stuff_data(&st, cases[i].in + split, len - split,
					out);
			smtp_stuff_finish(&st, out);
			ck_assert_msg(strcmp(out->data, cases[i].want) == 0,
				      "case %zu split %zu: got \"%s\"", i,
				      split, out->data);
		}
	}
	strbuf_free(&out);
}

END_TEST

START_TEST(test_nexthop)
{
	static const struct {
		const char *spec;
		int ret;
		const char *host;
		unsigned port;
		bool no_mx;
	} cases[] = {
	    {"[127.0.0.1]:2525", 0, "127.0.0.1", 2525, true},
	    {"[mail.example]", 0, "mail.example", 25, true},
	    {"[::1]:25", 0, "::1", 25, true},
	    {"example.com", 0, "example.com", 25, false},
	    {"example.com:587", 0, "example.com", 587, false},
	    {"[]:25", -1, NULL, 0, false},
	    {"[x]:0", -1, NULL, 0, false},
	    {"[x]:65536", -1, NULL, 0, false},
	    {"[x]junk", -1, NULL, 0, false},
	    {"::1", -1, NULL, 0, false},
	    {":25", -1, NULL, 0, false},
	    {"host:2x", -1, NULL, 0, false},
	};
	struct smtp_nexthop hop;
	const char *error;
	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		int r = smtp_parse_nexthop(cases[i].spec, &hop, &error);

		ck_assert_msg(r == cases[i].ret, "case %zu (%s): ret %d", i,
			      cases[i].spec, r);
		if (r < 0)
			continue;
		ck_assert_str_eq(hop.host, cases[i].host);
		ck_assert_uint_eq(hop.port, cases[i].port);
		ck_assert(hop.no_mx == cases[i].no_mx);
		smtp_nexthop_release(&hop);
	}
}

END_TEST

/* put_name - a DNS name in wire format */
static size_t put_name(unsigned char *p, const char *name)
{
	size_t n = 0;

	while (*name) {
		const char *dot = strchr(name, '.');
		size_t len = dot ? (size_t)(dot - name) : strlen(name);

		p[n++] = (unsigned char)len;
		memcpy(p + n, name, len);
		n += len;
		name += len + (dot ? 1 : 0);
	}
	p[n++] = 0;
	return n;
}

/* put_mx - one MX answer record whose owner points at offset 12 */
static size_t put_mx(unsigned char *p, unsigned pref, const char *target)
{
	size_t n = 0, rd;

	p[n++] = 0xc0;
	p[n++] = 12; /* the question's name */
	p[n++] = 0;
	p[n++] = 15; /* MX */
	p[n++] = 0;
	p[n++] = 1; /* IN */
	memset(p + n, 0, 4);
	n += 4; /* TTL */
	rd = put_name(p + n + 4, target) + 2;
	p[n++] = (unsigned char)(rd >> 8);
	p[n++] = (unsigned char)rd;
	p[n++] = (unsigned char)(pref >> 8);
	p[n++] = (unsigned char)pref;
	return n + rd - 2;
}

START_TEST(test_mx_parse)
{
	unsigned char pkt[512];
	char **hosts = NULL;
	size_t n = 12, count = 0, i;

	memset(pkt, 0, sizeof(pkt));
	pkt[5] = 1; /* one question */
	pkt[7] = 3; /* three answers */
	n += put_name(pkt + n, "example.com");
	pkt[n++] = 0;
	pkt[n++] = 15;
	pkt[n++] = 0;
	pkt[n++] = 1;
	n += put_mx(pkt + n, 20, "mx2.example.com");
	n += put_mx(pkt + n, 10, "mx1.example.com");
	n += put_mx(pkt + n, 20, "mx3.example.com");
	ck_assert_int_eq(smtp_mx_parse(pkt, (int)n, &hosts, &count), 0);
	ck_assert_uint_eq(count, 3);
	ck_assert_str_eq(hosts[0], "mx1.example.com");
	ck_assert_str_eq(hosts[1], "mx2.example.com");
	ck_assert_str_eq(hosts[2], "mx3.example.com");
	for (i = 0; i < count; i++)
		free(hosts[i]);
	free(hosts);
	/* truncated packets are refused, never read past the end */
	for (i = 0; i < n; i++) {
		if (smtp_mx_parse(pkt, (int)i, &hosts, &count) == 0) {
			size_t k;

			for (k = 0; k < count; k++)
				free(hosts[k]);
			free(hosts);
		}
	}
}

END_TEST

/*
 * A scripted server: lines starting with "C:" are what the client must
 * send (prefix match), "S:" what the server answers; "X" hangs up.
 */
static void script_server(int fd, const char *const *script)
{
	FILE *in = fdopen(dup(fd), "r");
	char line[4096];
	size_t i;

	for (i = 0; script[i] != NULL; i++) {
		const char *s = script[i];

		if (s[0] == 'S') {
			(void)!write(fd, s + 2, strlen(s + 2));
			(void)!write(fd, "\r\n", 2);
		} else if (s[0] == 'C') {
			if (fgets(line, sizeof(line), in) == NULL)
				_exit(2);
			if (strncmp(line, s + 2, strlen(s + 2)) != 0) {
				fprintf(stderr, "script: got %s want %s\n",
					line, s + 2);
				_exit(3);
			}
			if (strcmp(s + 2, "DATA") == 0) {
				(void)!write(fd, "354 go\r\n", 8);
				while (fgets(line, sizeof(line), in) != NULL &&
				       strcmp(line, ".\r\n") != 0)
					;
				i++; /* the "S:354" line is implied */
			}
		} else {
			_exit(0);
		}
	}
	_exit(0);
}

/* run_script - a transaction against a script; the child's status */
static int run_script(const char *const *script, struct smtp_msg *msg)
{
	int sv[2], status = 0;
	pid_t pid;
	struct smtp_sess *s;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(sv[0]);
		script_server(sv[1], script);
	}
	close(sv[1]);
	s = smtp_sess_create(sv[0], "mx.test", "192.0.2.1", 25);
	s->tls_level = SMTP_TLS_NONE;
	s->tmo.helo = 5;
	s->tmo.data = 5;
	(void)smtp_transaction(s, msg);
	smtp_sess_free(&s);
	waitpid(pid, &status, 0);
	return status;
}

/* msg_setup - a message of two recipients from a temporary file */
static void msg_setup(struct smtp_msg *msg, struct smtp_rcpt *rcpt)
{
	char path[] = "/tmp/test_smtp.XXXXXX";
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	unlink(path);
	ck_assert_int_eq(write(fd, "Subject: x\n\n.body\n", 18), 18);
	memset(msg, 0, sizeof(*msg));
	memset(rcpt, 0, 2 * sizeof(*rcpt));
	rcpt[0].address = "a@test";
	rcpt[1].address = "b@test";
	msg->sender = "s@test";
	msg->content_fd = fd;
	msg->content_offset = 0;
	msg->content_length = 18;
	msg->nrcpt = 2;
	msg->rcpt = rcpt;
}

/* msg_release - free results and the file */
static void msg_release(struct smtp_msg *msg)
{
	size_t i;

	for (i = 0; i < msg->nrcpt; i++)
		strbuf_free(&msg->rcpt[i].reason);
	close(msg->content_fd);
}

START_TEST(test_transaction_ok)
{
	static const char *const script[] = {
	    "S:220 mx.test ESMTP",
	    "C:EHLO ",
	    "S:250-mx.test",
	    "S:250-SIZE 1000",
	    "S:250 8BITMIME",
	    "C:MAIL FROM:<s@test> SIZE=18",
	    "S:250 ok",
	    "C:RCPT TO:<a@test>",
	    "S:250 ok",
	    "C:RCPT TO:<b@test>",
	    "S:250 ok",
	    "C:DATA",
	    "S:354 go",
	    "S:250-2.0.0 Ok:",
	    "S:250 2.0.0 queued as 42",
	    "C:QUIT",
	    "S:221 bye",
	    NULL,
	};
	struct smtp_msg msg;
	struct smtp_rcpt rcpt[2];

	msg_setup(&msg, rcpt);
	ck_assert_int_eq(run_script(script, &msg), 0);
	ck_assert_int_eq(rcpt[0].outcome, SMTP_OK);
	ck_assert_int_eq(rcpt[1].outcome, SMTP_OK);
	ck_assert_str_eq(rcpt[0].dsn, "2.0.0");
	ck_assert_str_eq(rcpt[0].reason->data,
			 "250-2.0.0 Ok: 2.0.0 queued as 42");
	msg_release(&msg);
}

END_TEST

START_TEST(test_transaction_mixed)
{
	static const char *const script[] = {
	    "S:220 mx.test ESMTP",
	    "C:EHLO ",
	    "S:250 mx.test",
	    "C:MAIL FROM:<s@test>",
	    "S:250 ok",
	    "C:RCPT TO:<a@test>",
	    "S:550 5.1.1 <a@test>: unknown",
	    "C:RCPT TO:<b@test>",
	    "S:452 4.2.2 full",
	    "C:QUIT",
	    "S:221 bye",
	    NULL,
	};
	struct smtp_msg msg;
	struct smtp_rcpt rcpt[2];

	msg_setup(&msg, rcpt);
	ck_assert_int_eq(run_script(script, &msg), 0);
	ck_assert_int_eq(rcpt[0].outcome, SMTP_BOUNCE);
	ck_assert_str_eq(rcpt[0].dsn, "5.1.1");
	ck_assert_str_eq(rcpt[0].reason->data,
			 "host mx.test[192.0.2.1]:25 said: 550 5.1.1 "
			 "<a@test>: unknown (in reply to RCPT TO command)");
	ck_assert_int_eq(rcpt[1].outcome, SMTP_DEFER);
	ck_assert_str_eq(rcpt[1].dsn, "4.2.2");
	msg_release(&msg);
}

END_TEST

START_TEST(test_transaction_refused)
{
	static const char *const script[] = {
	    "S:554 5.7.1 go away",
	    "C:QUIT",
	    "S:221 bye",
	    NULL,
	};
	struct smtp_msg msg;
	struct smtp_rcpt rcpt[2];

	msg_setup(&msg, rcpt);
	ck_assert_int_eq(run_script(script, &msg), 0);
	ck_assert_int_eq(rcpt[0].outcome, SMTP_BOUNCE);
	ck_assert_int_eq(rcpt[1].outcome, SMTP_BOUNCE);
	ck_assert_str_eq(rcpt[1].dsn, "5.7.1");
	ck_assert(strstr(rcpt[0].reason->data, "refused to talk to me") !=
		  NULL);
	msg_release(&msg);
}

END_TEST

START_TEST(test_transaction_hangup)
{
	static const char *const script[] = {
	    "S:220 mx.test ESMTP",  "C:EHLO ", "S:250 mx.test",
	    "C:MAIL FROM:<s@test>", "X",       NULL,
	};
	struct smtp_msg msg;
	struct smtp_rcpt rcpt[2];

	msg_setup(&msg, rcpt);
	(void)run_script(script, &msg);
	ck_assert_int_eq(rcpt[0].outcome, SMTP_DEFER);
	ck_assert_int_eq(rcpt[1].outcome, SMTP_DEFER);
	ck_assert(strstr(rcpt[0].reason->data,
			 "lost connection with mx.test[192.0.2.1]:25 while "
			 "sending MAIL FROM") != NULL);
	msg_release(&msg);
}

END_TEST

START_TEST(test_transaction_helo_fallback)
{
	static const char *const script[] = {
	    "S:220 old.test SMTP",
	    "C:EHLO ",
	    "S:502 what",
	    "C:HELO ",
	    "S:250 old.test",
	    "C:MAIL FROM:<s@test>\r",
	    "S:250 ok",
	    "C:RCPT TO:<a@test>",
	    "S:250 ok",
	    "C:RCPT TO:<b@test>",
	    "S:250 ok",
	    "C:DATA",
	    "S:354 go",
	    "S:554 5.6.0 no thanks",
	    "C:QUIT",
	    "S:221 bye",
	    NULL,
	};
	struct smtp_msg msg;
	struct smtp_rcpt rcpt[2];

	msg_setup(&msg, rcpt);
	ck_assert_int_eq(run_script(script, &msg), 0);
	ck_assert_int_eq(rcpt[0].outcome, SMTP_BOUNCE);
	ck_assert_str_eq(rcpt[0].dsn, "5.6.0");
	ck_assert(strstr(rcpt[0].reason->data, "(in reply to end of DATA "
					       "command)") != NULL);
	msg_release(&msg);
}

END_TEST

/* smtp_suite - every test */
static Suite *smtp_suite(void)
{
	Suite *s = suite_create("smtp_proto");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_reply_line);
	tcase_add_test(tc, test_reply_dsn);
	tcase_add_test(tc, test_stuff);
	tcase_add_test(tc, test_nexthop);
	tcase_add_test(tc, test_mx_parse);
	tcase_add_test(tc, test_transaction_ok);
	tcase_add_test(tc, test_transaction_mixed);
	tcase_add_test(tc, test_transaction_refused);
	tcase_add_test(tc, test_transaction_hangup);
	tcase_add_test(tc, test_transaction_helo_fallback);
	suite_add_tcase(s, tc);
	return s;
}

/* main - run the suite */
int main(void)
{
	SRunner *sr = srunner_create(smtp_suite());
	int failed;

	signal(SIGPIPE, SIG_IGN);
	log_init("postern", "test_smtp_proto");
	log_set_syslog(false);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
