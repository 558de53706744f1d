/*
 * NAME
 *	test_smtpd_cmd - unit tests for the SMTP command layer
 * SYNOPSIS
 *	build/unit/daemons/smtpd/test_smtpd_cmd
 * DESCRIPTION
 *	Command line splitting, then whole sessions: a client script is
 *	written into one end of a socketpair, the session runs on the other
 *	end, and the reply codes (and what reached cleanup) are compared
 *	with the expected ones. proxyd and cleanup are mocked at link time:
 *	this file defines lookup_* (lib/lookup_clnt.h) and cleanup_clnt_*
 *	(lib/proto_cleanup.h), so the library's versions are not linked.
 *
 *	Mock lookups: example.com is a local domain with the mailbox
 *	user@example.com and the alias alias@example.com; tempfail.example
 *	and tempfail@example.com fail temporarily; every other domain is
 *	remote. For quota at RCPT: mailboxes full@ (bytes), nearly@ (100
 *	bytes left), msgfull@ (messages) and limfail@ (limits lookup
 *	fails) of example.com, the alias fwd@ (to full@) and team@ (to
 *	full@ and user@), and full.example, a domain over its total. The
 *	mock records every domain it is asked about, which shows the
 *	domain answers smtpd keeps (lib/lookup_cache.c, linked for real;
 *	Check's fork mode gives each test a fresh process and cache).
 * DIAGNOSTICS
 *	Check's report; exit status 1 when a test fails.
 */
#include "sys_defs.h"

#include <check.h>
#include <limits.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "lookup_clnt.h"
#include "params.h"
#include "proto_cleanup.h"
#include "strbuf.h"
#include "xalloc.h"

#include "../../../../daemons/smtpd/smtpd.h"

/* What the mock cleanup saw, and how it answers. */
static struct strbuf mock_log;     /* one line per request */
static struct strbuf mock_content; /* data chunks of the last message */
static enum cleanup_stat mock_end_status = CLEANUP_STAT_OK;
static bool mock_open_fails;
static int mock_queued;

struct cleanup_clnt {
	int dummy;
};

/* lookup_clnt_create_cfg - mock */
struct lookup_clnt *lookup_clnt_create_cfg(const struct config *cfg,
					   bool chrooted)
{
	(void)cfg;
	(void)chrooted;
	return xcalloc(1, 16);
}

/* lookup_clnt_free - mock */
void lookup_clnt_free(struct lookup_clnt **clntp)
{
	free(*clntp);
	*clntp = NULL;
}

/* lookup_status_name - mock */
const char *lookup_status_name(int status)
{
	return status == LOOKUP_RETRY ? "retry" : "other";
}

/* Mock mailboxes with their virtual_mailbox_limits values, and the
 * virtual_domain_limits of the local domains. */
static const struct {
	const char *key;
	const char *value;
} mock_limits[] =
    {
	{"user@example.com", "0,0,0,0"},
	{"full@example.com", "1000,0,1000,0"},
	{"nearly@example.com", "1000,0,900,0"},
	{"msgfull@example.com", "0,3,10,3"},
	{"x@full.example", "0,0,50,1"},
	{"limfail@example.com", NULL}, /* the limits lookup fails */
},
  mock_domain_limits[] = {
      {"example.com", "0,1910"},
      {"full.example", "50,50"},
};

/* lookup_auth - mock: user@example.com has the password "secret" */
int lookup_auth(struct lookup_clnt *clnt, const char *user,
		const char *password, const char **error_r)
{
	(void)clnt;
	*error_r = "mock failure";
	if (strcmp(user, "tempfail@example.com") == 0)
		return LOOKUP_RETRY;
	return strcmp(user, "user@example.com") == 0 &&
		       strcmp(password, "secret") == 0
		   ? LOOKUP_OK
		   : LOOKUP_NOKEY;
}

/* lookup_prefetch - the fake answers every lookup_query() directly */
void lookup_prefetch(struct lookup_clnt *clnt, const struct lookup_key *keys,
		     size_t count)
{
	(void)clnt;
	(void)keys;
	(void)count;
}

/* lookup_prefetch_drop - nothing was prefetched */
void lookup_prefetch_drop(struct lookup_clnt *clnt)
{
	(void)clnt;
}

/* Every key asked of the domains table, each followed by a space. */
static struct strbuf mock_domain_keys;

/* lookup_query - mock tables */
int lookup_query(struct lookup_clnt *clnt, const char *table, const char *key,
		 struct strbuf *value, const char **error_r)
{
	size_t i;

	(void)clnt;
	if (strcmp(table, LOOKUP_TABLE_DOMAINS) == 0)
		(void)strbuf_printf_append(&mock_domain_keys, "%s ", key);
	strbuf_reset(value);
	*error_r = "mock failure";
	if (strcmp(key, "tempfail.example") == 0 ||
	    strcmp(key, "tempfail@example.com") == 0)
		return LOOKUP_RETRY;
	if (strcmp(table, LOOKUP_TABLE_DOMAINS) == 0)
		return strcmp(key, "example.com") == 0 ||
			       strcmp(key, "full.example") == 0
			   ? LOOKUP_OK
			   : LOOKUP_NOKEY;
	if (strcmp(table, LOOKUP_TABLE_ALIASES) == 0) {
		/* alias@: no single target; fwd@: forwards to full@;
		 * team@: two targets; a mailbox maps to itself */
		if (strcmp(key, "alias@example.com") == 0)
			return LOOKUP_OK;
		if (strcmp(key, "fwd@example.com") == 0)
			return strbuf_copy(value, "Full@example.com"),
			       LOOKUP_OK;
		if (strcmp(key, "team@example.com") == 0)
			return strbuf_copy(value, "full@example.com,"
						  "user@example.com"),
			       LOOKUP_OK;
	}
	if (strcmp(table, LOOKUP_TABLE_SENDER_LOGINS) == 0) {
		if (strcmp(key, "user@example.com") != 0 &&
		    strcmp(key, "alias@example.com") != 0)
			return LOOKUP_NOKEY;
		(void)strbuf_cat(value,
				 "someone@example.com, user@example.com");
		return LOOKUP_OK;
	}
	for (i = 0; i < ARRAY_LEN(mock_limits); i++) {
		if (strcmp(key, mock_limits[i].key) != 0)
			continue;
		if (strcmp(table, LOOKUP_TABLE_LIMITS) == 0) {
			if (mock_limits[i].value == NULL)
				return LOOKUP_RETRY;
			strbuf_copy(value, mock_limits[i].value);
		} else {
			strbuf_copy(value, key);
		}
		return LOOKUP_OK;
	}
	if (strcmp(table, LOOKUP_TABLE_DOMAIN_LIMITS) == 0) {
		for (i = 0; i < ARRAY_LEN(mock_domain_limits); i++) {
			if (strcmp(key, mock_domain_limits[i].key) == 0) {
				strbuf_copy(value, mock_domain_limits[i].value);
				return LOOKUP_OK;
			}
		}
	}
	return LOOKUP_NOKEY;
}

/* cleanup_clnt_open - mock */
struct cleanup_clnt *cleanup_clnt_open(const char *path, const char *protocol,
				       int timeout_ms,
				       const struct cleanup_open_info *info,
				       struct cleanup_result *res)
{
	(void)path;
	(void)protocol;
	(void)timeout_ms;
	if (mock_open_fails) {
		res->status = CLEANUP_STAT_RETRY;
		snprintf(res->reason, sizeof(res->reason), "mock: no cleanup");
		return NULL;
	}
	strbuf_reset(&mock_content);
	(void)strbuf_printf_append(&mock_log, "open %s %s %s\n", info->origin,
				   info->helo, info->protocol);
	return xcalloc(1, sizeof(struct cleanup_clnt));
}

/* cleanup_clnt_queue_id - mock */
const char *cleanup_clnt_queue_id(const struct cleanup_clnt *clnt)
{
	(void)clnt;
	return "ABCDEF0123456789";
}

/* cleanup_clnt_envelope - mock */
int cleanup_clnt_envelope(struct cleanup_clnt *clnt, const char *sender,
			  const char *ret, const char *envid, const char *body,
			  bool smtputf8)
{
	(void)clnt;
	(void)strbuf_printf_append(&mock_log, "envelope <%s> %s %s %s %d\n",
				   sender, ret ? ret : "-", envid ? envid : "-",
				   body ? body : "-", smtputf8);
	return 0;
}

/* cleanup_clnt_rcpt - mock */
int cleanup_clnt_rcpt(struct cleanup_clnt *clnt, const char *address,
		      const char *orcpt, const char *notify)
{
	(void)clnt;
	(void)strbuf_printf_append(&mock_log, "rcpt <%s> %s %s\n", address,
				   orcpt ? orcpt : "-", notify ? notify : "-");
	return 0;
}

/* cleanup_clnt_data - mock */
int cleanup_clnt_data(struct cleanup_clnt *clnt, const void *data, size_t len)
{
	(void)clnt;
	(void)strbuf_catn(&mock_content, data, len);
	return 0;
}

/* cleanup_clnt_end - mock */
enum cleanup_stat cleanup_clnt_end(struct cleanup_clnt *clnt,
				   struct cleanup_result *res)
{
	(void)clnt;
	memset(res, 0, sizeof(*res));
	res->status = mock_end_status;
	snprintf(res->dsn, sizeof(res->dsn), "%s",
		 mock_end_status == CLEANUP_STAT_FAIL ? "5.4.6" : "4.3.0");
	snprintf(res->reason, sizeof(res->reason), "mock verdict");
	(void)strbuf_cat(&mock_log, "end\n");
	if (mock_end_status == CLEANUP_STAT_OK)
		mock_queued++;
	return mock_end_status;
}

/* cleanup_clnt_free - mock */
void cleanup_clnt_free(struct cleanup_clnt **clntp)
{
	free(*clntp);
	*clntp = NULL;
}

/* session_setup - reset the mocks */
static void session_setup(void)
{
	strbuf_init(&mock_log, 256);
	strbuf_init(&mock_content, 256);
	strbuf_init(&mock_domain_keys, 256);
	mock_end_status = CLEANUP_STAT_OK;
	mock_open_fails = false;
	mock_queued = 0;
}

/* session_teardown - free the mocks' buffers */
static void session_teardown(void)
{
	strbuf_release(&mock_log);
	strbuf_release(&mock_content);
	strbuf_release(&mock_domain_keys);
}

/*
 * run_session - run a session on script; replies gets the final line
 * of every reply, space-separated codes (e.g. "220 250 250 354 250"),
 * and full gets the raw reply text. overrides: "name=value" list.
 */
static void run_session(const char *script, size_t len,
			const char *const *overrides, bool trusted,
			struct strbuf *codes, struct strbuf *full)
{
	struct config cfg;
	struct strbuf why;
	struct smtpd_session s;
	const char *err;
	char buf[65536];
	int sv[2];
	ssize_t n;
	size_t i;
	char *line, *save = NULL;

	memset(&cfg, 0, sizeof(cfg));
	config_defaults(&cfg);
	strbuf_init(&why, 64);
	ck_assert_int_eq(config_set(&cfg, "myhostname", "mx.test", &err), 0);
	ck_assert_int_eq(config_set(&cfg, "smtpd_error_sleep_time", "0", &err),
			 0);
	ck_assert_int_eq(config_set(&cfg, "smtpd_timeout", "5s", &err), 0);
	for (i = 0; overrides != NULL && overrides[i] != NULL; i++) {
		char *name = xstrdup(overrides[i]);
		char *eq = strchr(name, '=');

		*eq = '\0';
		ck_assert_msg(config_set(&cfg, name, eq + 1, &err) == 0, "%s",
			      err);
		free(name);
	}
	ck_assert_int_eq(config_finish(&cfg, &why), 0);
	if (cfg.smtpd_sasl_auth_enable)
		smtpd_auth_init(&cfg); /* the real library and plugins */
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	{
		int size = 1 << 20;

		(void)setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &size,
				 sizeof(size));
		(void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &size,
				 sizeof(size));
	}
	ck_assert(write(sv[1], script, len) == (ssize_t)len);
	(void)shutdown(sv[1], SHUT_WR);
	smtpd_session_init(&s, &cfg, sv[0], sv[0]);
	smtpd_set_client(&s, sv[0], false);
	s.client_trusted = trusted;
	smtpd_session_run(&s);
	smtpd_session_release(&s);
	(void)close(sv[0]);
	strbuf_reset(full);
	while ((n = read(sv[1], buf, sizeof(buf))) > 0)
		(void)strbuf_catn(full, buf, (size_t)n);
	(void)close(sv[1]);
	strbuf_reset(codes);
	{
		char *copy = xstrdup(full->data);

		for (line = strtok_r(copy, "\r\n", &save); line != NULL;
		     line = strtok_r(NULL, "\r\n", &save)) {
			if (strlen(line) >= 4 && line[3] == '-')
				continue;
			if (codes->len)
				(void)strbuf_addch(codes, ' ');
			(void)strbuf_catn(codes, line, 3);
		}
		free(copy);
	}
	strbuf_release(&why);
	config_release(&cfg);
}

/* test_split - verb and arguments */
START_TEST(test_split)
{
	static const struct {
		const char *in;
		size_t len;
		int want;
		const char *want_verb;
		const char *want_args;
	} cases[] = {
	    {"EHLO example.com", 0, 0, "EHLO", "example.com"},
	    {"ehlo   example.com  ", 0, 0, "ehlo", "example.com"},
	    {"QUIT", 0, 0, "QUIT", ""},
	    {"MAIL FROM:<a@b> SIZE=1", 0, 0, "MAIL", "FROM:<a@b> SIZE=1"},
	    {"", 0, 0, "", ""},
	    {"HELO a\rb", 0, -1, NULL, NULL},
	    {"HELO a\0b", 8, -1, NULL, NULL},
	    {"HELO \x7f", 0, -1, NULL, NULL},
	    {"HELO \xff", 0, -1, NULL, NULL},
	    {"HELO \xc3\xa9", 0, 0, "HELO", "\xc3\xa9"},
	};

	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		const char *verb, *args;
		size_t vlen, alen;
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);
		int r = smtpd_cmd_split(cases[i].in, len, &verb, &vlen, &args,
					&alen);

		ck_assert_msg(r == cases[i].want, "case %zu: %d", i, r);
		if (r < 0)
			continue;
		ck_assert_msg(vlen == strlen(cases[i].want_verb) &&
				  memcmp(verb, cases[i].want_verb, vlen) == 0,
			      "case %zu verb", i);
		ck_assert_msg(alen == strlen(cases[i].want_args) &&
				  memcmp(args, cases[i].want_args, alen) == 0,
			      "case %zu args", i);
	}
	ck_assert_ptr_nonnull(smtpd_cmd_find("ehlo", 4));
	ck_assert_ptr_nonnull(smtpd_cmd_find("BdAt", 4));
	ck_assert_ptr_null(smtpd_cmd_find("EHL", 3));
	ck_assert_ptr_null(smtpd_cmd_find("STARTTLSX", 9));
}

END_TEST

#define EHLO "EHLO client.example\r\n"
#define MAIL "MAIL FROM:<sender@remote.example>\r\n"
#define RCPT "RCPT TO:<user@example.com>\r\n"

/* One session script and the reply codes it must get. */
struct session_case {
	const char *name;
	const char *script;
	size_t len; /* 0: strlen */
	const char *overrides[4];
	bool untrusted;
	const char *want_codes;
	int want_queued;
};

static const struct session_case session_cases[] = {
    {"basic",
     EHLO MAIL RCPT "DATA\r\nSubject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n",
     0,
     {NULL},
     false,
     "220 250 250 250 354 250 221",
     1},
    {"helo",
     "HELO client.example\r\n" MAIL RCPT "DATA\r\n.\r\n",
     0,
     {NULL},
     false,
     "220 250 250 250 354 250",
     1},
    {"sequence",
     "MAIL FROM:<a@b.example>\r\n" EHLO
     "RCPT TO:<user@example.com>\r\nDATA\r\n" MAIL "DATA\r\n" MAIL "QUIT\r\n",
     0,
     {NULL},
     false,
     "220 503 250 503 503 250 503 503 221",
     0},
    {"no valid rcpt",
     EHLO MAIL "RCPT TO:<nobody@example.com>\r\nDATA\r\n",
     0,
     {NULL},
     false,
     "220 250 250 550 554",
     0},
    {"recipients",
     EHLO MAIL
     "RCPT TO:<user@example.com>\r\nRCPT TO:<alias@example.com>\r\n"
     "RCPT TO:<nobody@example.com>\r\nRCPT TO:<Postmaster>\r\n"
     "RCPT TO:<postmaster@example.com>\r\nRCPT TO:<x@tempfail.example>\r\n"
     "RCPT TO:<tempfail@example.com>\r\nRCPT TO:<x@remote.example>\r\n"
     "RCPT TO:<x@[192.0.2.1]>\r\n",
     0,
     {NULL},
     false,
     "220 250 250 250 250 550 250 250 451 451 250 250",
     0},
    {"relay denied",
     EHLO MAIL "RCPT TO:<x@remote.example>\r\nRCPT TO:<x@[192.0.2.1]>\r\n"
	       "RCPT TO:<postmaster@remote.example>\r\n" RCPT,
     0,
     {NULL},
     true,
     "220 250 250 554 554 554 250",
     0},
    {"syntax",
     EHLO "MAIL FROM:a@b@c\r\nMAIL TO:<a@b.example>\r\n"
	  "MAIL FROM:<a@b.example> FOO=1\r\n"
	  "MAIL FROM:<a@b.example> SIZE=x\r\n" MAIL
	  "RCPT TO:<a b@example.com>\r\nRCPT <x@example.com>\r\n"
	  "RCPT TO:<user@example.com> NOTIFY=SOMETIMES\r\n"
	  "RCPT TO:<user@example.com> ORCPT=rfc822;a+0D+0Ab\r\n"
	  "RCPT TO:<user@example.com> ORCPT=rfc822;a@b.example "
	  "NOTIFY=SUCCESS,FAILURE\r\n",
     0,
     {NULL},
     false,
     "220 250 501 501 555 501 250 501 501 501 501 250",
     0},
    {"envid",
     EHLO "MAIL FROM:<a@b.example> ENVID=a+00b\r\n"
	  "MAIL FROM:<a@b.example> ENVID=a+0Db\r\n"
	  "MAIL FROM:<a@b.example> RET=FULL ENVID=QQ+2B1 BODY=8BITMIME "
	  "AUTH=<>\r\n",
     0,
     {NULL},
     false,
     "220 250 501 501 250",
     0},
    {"params need ehlo",
     "HELO c.example\r\nMAIL FROM:<a@b.example> "
     "BODY=8BITMIME\r\n",
     0,
     {NULL},
     false,
     "220 250 555",
     0},
    {"size",
     EHLO "MAIL FROM:<a@b.example> SIZE=99999999999\r\n"
	  "MAIL FROM:<a@b.example> SIZE=99999999999999999999999\r\n"
	  "MAIL FROM:<a@b.example> SIZE=1000\r\n"
	  "MAIL FROM:<a@b.example> SIZE=10\r\n" RCPT
	  "DATA\r\n0123456789012345678901234567890123456789\r\n.\r\n"
	  "NOOP\r\n",
     0,
     {"message_size_limit=20"},
     false,
     "220 250 552 552 552 250 250 354 552 250",
     0},
    {"size ok",
     EHLO "MAIL FROM:<a@b.example> SIZE=10\r\n" RCPT "DATA\r\nshort\r\n.\r\n",
     0,
     {"message_size_limit=20"},
     false,
     "220 250 250 250 354 250",
     1},
    {"rcpt limit",
     EHLO MAIL RCPT RCPT RCPT "DATA\r\n.\r\n",
     0,
     {"smtpd_recipient_limit=2"},
     false,
     "220 250 250 250 250 452 354 250",
     1},
    {"utf8",
     EHLO "MAIL FROM:<\xc3\xa9@b.example>\r\n"
	  "MAIL FROM:<\xc3\xa9@b.example> SMTPUTF8\r\n"
	  "RCPT TO:<\xc3\xa9@remote.example>\r\n" RCPT "DATA\r\n.\r\n",
     0,
     {NULL},
     false,
     "220 250 553 250 250 250 354 250",
     1},
    {"utf8 rcpt needs smtputf8",
     EHLO MAIL "RCPT TO:<\xc3\xa9@example.com>\r\n",
     0,
     {NULL},
     false,
     "220 250 250 553",
     0},
    {"long line",
     EHLO
     "NOOP aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "\r\nNOOP\r\n",
     0,
     {NULL},
     false,
     "220 250 500 250",
     0},
    {"nul and control",
     EHLO "NOOP a\0b\r\nHELO a\rb\r\nNOOP\r\n",
     47,
     {NULL},
     false,
     "220 250 500 500 250",
     0},
    {"unknown and http",
     "FOO\r\nGET / HTTP/1.1\r\nNOOP\r\n",
     0,
     {NULL},
     false,
     "220 502 221",
     0},
    {"hard error limit",
     "FOO\r\nFOO\r\nFOO\r\nNOOP\r\n",
     0,
     {"smtpd_hard_error_limit=3"},
     false,
     "220 502 502 502 421",
     0},
    {"rset",
     EHLO MAIL RCPT "RSET\r\nDATA\r\n" MAIL RCPT "DATA\r\n.\r\n",
     0,
     {NULL},
     false,
     "220 250 250 250 250 503 250 250 354 250",
     1},
    {"auth plain",
     EHLO "AUTH PLAIN AHVzZXJAZXhhbXBsZS5jb20Ac2VjcmV0\r\n"
	  "AUTH PLAIN AHVzZXJAZXhhbXBsZS5jb20Ac2VjcmV0\r\n"
	  "MAIL FROM:<alias@example.com>\r\nRSET\r\n"
	  "MAIL FROM:<other@example.com>\r\n"
	  "MAIL FROM:<USER@example.com>\r\n"
	  "RCPT TO:<x@remote.example>\r\n",
     0,
     {"smtpd_sasl_auth_enable=yes", "smtpd_tls_auth_only=no",
      "smtpd_sender_login_check=yes"},
     true,
     "220 250 235 503 250 250 553 250 250",
     0},
    {"auth login and failures",
     EHLO "AUTH LOGIN\r\ndXNlckBleGFtcGxlLmNvbQ==\r\nYmFk\r\n"
	  "AUTH PLAIN\r\n*\r\nAUTH PLAIN ***\r\nAUTH PLAIN\r\n@@\r\n"
	  "AUTH CRAM-MD5\r\nAUTH PLAIN AHRlbXBmYWlsQGV4YW1wbGUuY29tAHg=\r\n"
	  "AUTH LOGIN dXNlckBleGFtcGxlLmNvbQ==\r\nc2VjcmV0\r\n",
     0,
     {"smtpd_sasl_auth_enable=yes", "smtpd_tls_auth_only=no"},
     false,
     "220 250 334 334 535 334 501 501 334 501 504 454 334 235",
     0},
    {"auth failure limit",
     EHLO "AUTH PLAIN AHVzZXJAZXhhbXBsZS5jb20AYmFk\r\n"
	  "AUTH PLAIN AHVzZXJAZXhhbXBsZS5jb20AYmFk\r\nNOOP\r\n",
     0,
     {"smtpd_sasl_auth_enable=yes", "smtpd_tls_auth_only=no",
      "smtpd_client_auth_failure_limit=2"},
     false,
     "220 250 535 421",
     0},
    {"auth needs tls, ehlo, enable",
     "AUTH PLAIN\r\n" EHLO "AUTH PLAIN\r\n" MAIL "AUTH PLAIN\r\n",
     0,
     {"smtpd_sasl_auth_enable=yes"},
     false,
     "220 503 250 538 250 538",
     0},
    {"auth not enabled",
     EHLO "AUTH PLAIN\r\n",
     0,
     {NULL},
     false,
     "220 250 503",
     0},
    {"auth required",
     EHLO MAIL "AUTH PLAIN AHVzZXJAZXhhbXBsZS5jb20Ac2VjcmV0\r\n" MAIL,
     0,
     {"smtpd_sasl_auth_enable=yes", "smtpd_tls_auth_only=no",
      "smtpd_sasl_auth_required=yes"},
     false,
     "220 250 530 235 250",
     0},
    {"encrypt level",
     EHLO "STARTTLS\r\n" MAIL "NOOP\r\n",
     0,
     {"smtpd_tls_security_level=encrypt"},
     false,
     "220 250 454 530 250",
     0},
    {"vrfy help noop",
     "VRFY user@example.com\r\nHELP\r\nNOOP\r\n",
     0,
     {NULL},
     false,
     "220 252 214 250",
     0},
    {"vrfy enabled",
     "VRFY user@example.com\r\nVRFY <nobody@example.com>\r\n",
     0,
     {"disable_vrfy_command=no"},
     false,
     "220 252 550",
     0},
    {"smuggling",
     EHLO MAIL RCPT "DATA\r\na\n.\n" MAIL RCPT "DATA\r\nb\r\n.\r\nQUIT\r\n",
     0,
     {NULL},
     false,
     "220 250 250 250 354 250 221",
     1},
    {"bare lf reject",
     EHLO MAIL RCPT "DATA\r\na\nb\r\n.\r\n",
     0,
     {"smtpd_forbid_bare_newline=reject"},
     false,
     "220 250 250 250 354 521",
     0},
    {"bare lf command reject",
     "EHLO a.example\n",
     0,
     {"smtpd_forbid_bare_newline=reject"},
     false,
     "220 521",
     0},
    {"bare lf command normalize",
     "EHLO a.example\nNOOP\n",
     0,
     {NULL},
     false,
     "220 250 250",
     0},
    {"message line too long",
     EHLO MAIL RCPT
     "DATA\r\n"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "\r\n.\r\nNOOP\r\n",
     0,
     {NULL},
     false,
     "220 250 250 250 354 500 250",
     0},
    {"unterminated data",
     EHLO MAIL RCPT "DATA\r\nabc\r\n",
     0,
     {NULL},
     false,
     "220 250 250 250 354",
     0},
    {"bdat",
     EHLO MAIL RCPT "BDAT 5\r\nhelloBDAT 9 LAST\r\n\r\nworld\r\n"
		    "QUIT\r\n",
     0,
     {NULL},
     false,
     "220 250 250 250 250 250 221",
     1},
    {"bdat 0 last",
     EHLO MAIL RCPT "BDAT 0 LAST\r\n",
     0,
     {NULL},
     false,
     "220 250 250 250 250",
     1},
    {"bdat refused consumed",
     EHLO "BDAT 10\r\nMAIL FROM:BDAT 3 LAST\r\nabc"
	  "NOOP\r\n",
     0,
     {NULL},
     false,
     "220 250 503 503 250",
     0},
    {"bdat then data",
     EHLO MAIL RCPT "BDAT 3\r\nabcDATA\r\nBDAT 0 LAST\r\n",
     0,
     {NULL},
     false,
     "220 250 250 250 250 503 250",
     1},
    {"bdat bad size",
     EHLO MAIL RCPT
     "BDAT x\r\nBDAT 99999999999999999999999\r\nBDAT -1\r\nBDAT 1 FIRST\r\n"
     "RSET\r\n",
     0,
     {NULL},
     false,
     "220 250 250 250 501 501 501 501 250",
     0},
    {"bdat too big",
     EHLO MAIL RCPT "BDAT 30\r\n"
		    "012345678901234567890123456789BDAT 1 LAST\r\nx"
		    "NOOP\r\n",
     0,
     {"message_size_limit=20"},
     false,
     "220 250 250 250 552 503 250",
     0},
    {"quota",
     EHLO MAIL "RCPT TO:<full@example.com>\r\nRCPT TO:<nearly@example.com>\r\n"
	       "RCPT TO:<msgfull@example.com>\r\nRCPT TO:<fwd@example.com>\r\n"
	       "RCPT TO:<team@example.com>\r\nRCPT TO:<x@full.example>\r\n"
	       "RCPT TO:<limfail@example.com>\r\n"
	       "RCPT TO:<postmaster@full.example>\r\nRSET\r\n"
	       "MAIL FROM:<a@b.example> SIZE=101\r\n"
	       "RCPT TO:<nearly@example.com>\r\nRSET\r\n"
	       "MAIL FROM:<a@b.example> SIZE=100\r\n"
	       "RCPT TO:<nearly@example.com>\r\n",
     0,
     {NULL},
     false,
     "220 250 250 452 250 452 452 250 452 451 250 250 250 452 250 250 250",
     0},
    {"pipelining",
     EHLO MAIL RCPT "RCPT TO:<alias@example.com>\r\nDATA\r\n"
		    "x\r\n.\r\n" MAIL RCPT "DATA\r\ny\r\n.\r\n"
		    "QUIT\r\n",
     0,
     {NULL},
     false,
     "220 250 250 250 250 354 250 250 250 354 250 221",
     2},
};

/* test_sessions - each script gets its reply codes */
START_TEST(test_sessions)
{
	const struct session_case *c = &session_cases[_i];
	struct strbuf codes, full;

	strbuf_init(&codes, 64);
	strbuf_init(&full, 1024);
	run_session(c->script, c->len ? c->len : strlen(c->script),
		    c->overrides, !c->untrusted, &codes, &full);
	ck_assert_msg(strcmp(codes.data, c->want_codes) == 0,
		      "%s: got \"%s\", want \"%s\"\n%s", c->name, codes.data,
		      c->want_codes, full.data);
	ck_assert_msg(mock_queued == c->want_queued, "%s: queued %d", c->name,
		      mock_queued);
	strbuf_release(&codes);
	strbuf_release(&full);
}

END_TEST

/* test_content - what cleanup gets: Received first, unstuffed, LF */
START_TEST(test_content)
{
	static const char script[] = EHLO
	    "MAIL FROM:<s@remote.example> BODY=8BITMIME RET=HDRS "
	    "ENVID=id+2B1\r\n"
	    "RCPT TO:<user@example.com> NOTIFY=success,failure "
	    "ORCPT=rfc822;user+2Btag@example.com\r\n"
	    "DATA\r\nSubject: t\r\n\r\n..dot\r\nline\n.\nsmuggled\r\n.\r\n";
	struct strbuf codes, full;
	const char *body;

	strbuf_init(&codes, 64);
	strbuf_init(&full, 1024);
	run_session(script, sizeof(script) - 1, NULL, true, &codes, &full);
	ck_assert_str_eq(codes.data, "220 250 250 250 354 250");
	ck_assert_msg(strstr(full.data, "250 2.0.0 Ok: queued as "
					"ABCDEF0123456789\r\n") != NULL,
		      "%s", full.data);
	ck_assert_msg(
	    strstr(mock_log.data,
		   "open smtpd client.example ESMTP\n"
		   "envelope <s@remote.example> HDRS id+1 8BITMIME 0\n"
		   "rcpt <user@example.com> "
		   "rfc822;user+tag@example.com SUCCESS,FAILURE\n"
		   "end\n") != NULL,
	    "%s", mock_log.data);
	ck_assert_msg(strncmp(mock_content.data,
			      "Received: from client.example (localhost "
			      "[127.0.0.1])\n\tby mx.test (Postern) with "
			      "ESMTP id ABCDEF0123456789\n\tfor "
			      "<user@example.com>; ",
			      130) == 0,
		      "%s", mock_content.data);
	body = strstr(mock_content.data, "\n\nSubject: t") != NULL
		   ? NULL
		   : strstr(mock_content.data, "Subject: t\n");
	ck_assert_ptr_nonnull(body);
	ck_assert_str_eq(body, "Subject: t\n\n.dot\nline\n\nsmuggled\n");
	strbuf_release(&codes);
	strbuf_release(&full);
}

END_TEST

/* test_cleanup_failures - no 250 unless cleanup said ok */
START_TEST(test_cleanup_failures)
{
	static const char script[] =
	    EHLO MAIL RCPT "DATA\r\nx\r\n.\r\n" MAIL RCPT "BDAT 1 LAST\r\nx";
	struct strbuf codes, full;

	strbuf_init(&codes, 64);
	strbuf_init(&full, 1024);
	mock_end_status = CLEANUP_STAT_RETRY;
	run_session(script, sizeof(script) - 1, NULL, true, &codes, &full);
	ck_assert_str_eq(codes.data, "220 250 250 250 354 451 250 250 451");
	mock_end_status = CLEANUP_STAT_FAIL;
	run_session(script, sizeof(script) - 1, NULL, true, &codes, &full);
	ck_assert_str_eq(codes.data, "220 250 250 250 354 554 250 250 554");
	ck_assert_msg(strstr(full.data, "554 5.4.6 Error: mock verdict") !=
			  NULL,
		      "%s", full.data);
	mock_open_fails = true;
	run_session(script, sizeof(script) - 1, NULL, true, &codes, &full);
	ck_assert_str_eq(codes.data, "220 250 250 451 554 502 502 503 451 554");
	ck_assert_int_eq(mock_queued, 0);
	strbuf_release(&codes);
	strbuf_release(&full);
}

END_TEST

/* test_domain_kept - the domain lookup's answer serves later RCPTs
 * (of any session of the process); a failure is asked again */
START_TEST(test_domain_kept)
{
	static const char script[] =
	    EHLO MAIL "RCPT TO:<user@example.com>\r\n"
		      "RCPT TO:<nobody@example.com>\r\n"
		      "RCPT TO:<x@remote.example>\r\n"
		      "RCPT TO:<y@remote.example>\r\n"
		      "RCPT TO:<x@tempfail.example>\r\n"
		      "RCPT TO:<y@tempfail.example>\r\n";
	static const char again[] = EHLO MAIL "RCPT TO:<user@example.com>\r\n";
	struct strbuf codes, full;

	strbuf_init(&codes, 64);
	strbuf_init(&full, 1024);
	run_session(script, sizeof(script) - 1, NULL, false, &codes, &full);
	ck_assert_str_eq(codes.data, "220 250 250 250 550 554 554 451 451");
	run_session(again, sizeof(again) - 1, NULL, false, &codes, &full);
	ck_assert_str_eq(codes.data, "220 250 250 250");
	ck_assert_str_eq(mock_domain_keys.data,
			 "example.com remote.example tempfail.example "
			 "tempfail.example ");
	strbuf_release(&codes);
	strbuf_release(&full);
}

END_TEST

/* test_quota - the RCPT quota replies and the decision they rest on */
START_TEST(test_quota)
{
	static const char script[] = EHLO MAIL "RCPT TO:<Full@example.com>\r\n"
					       "RCPT TO:<x@full.example>\r\n";
	struct strbuf codes, full;

	strbuf_init(&codes, 64);
	strbuf_init(&full, 1024);
	run_session(script, sizeof(script) - 1, NULL, true, &codes, &full);
	ck_assert_str_eq(codes.data, "220 250 250 452 452");
	ck_assert_msg(strstr(full.data, "452 4.2.2 <Full@example.com>: "
					"Mailbox full\r\n") != NULL,
		      "%s", full.data);
	ck_assert_msg(strstr(full.data, "452 4.2.2 <x@full.example>: Domain "
					"quota exceeded\r\n") != NULL,
		      "%s", full.data);
	strbuf_release(&codes);
	strbuf_release(&full);
	/* limit, used, size: 0 is unlimited; used == limit is full */
	ck_assert(!smtpd_quota_full(0, 1000000, 1000000));
	ck_assert(!smtpd_quota_full(1000, 0, 0));
	ck_assert(!smtpd_quota_full(1000, 900, 100));
	ck_assert(smtpd_quota_full(1000, 900, 101));
	ck_assert(smtpd_quota_full(1000, 1000, 0));
	ck_assert(smtpd_quota_full(1000, 5000, 0));
	ck_assert(smtpd_quota_full(1000, 0, 1001));
	ck_assert(!smtpd_quota_full(LLONG_MAX, LLONG_MAX - 1, 1));
	ck_assert(smtpd_quota_full(LLONG_MAX, 1, LLONG_MAX));
}

END_TEST

/* capture_line - the log capture hook keeps every line */
static struct strbuf captured;

static void capture_line(enum log_level level, const char *text)
{
	(void)level;
	(void)strbuf_cat(&captured, text);
	(void)strbuf_addch(&captured, '\n');
}

/* test_log_lines - connect, client=, reject, disconnect shapes */
START_TEST(test_log_lines)
{
	static const char script[] =
	    "EHLO bad\\helo\r\nMAIL FROM:<s@remote.example>\r\n"
	    "RCPT TO:<nobody@example.com>\r\n" RCPT "DATA\r\nx\r\n.\r\n"
	    "QUIT\r\n";
	struct strbuf codes, full;

	strbuf_init(&codes, 64);
	strbuf_init(&full, 1024);
	strbuf_init(&captured, 1024);
	log_set_capture(capture_line);
	run_session(script, sizeof(script) - 1, NULL, true, &codes, &full);
	log_set_capture(NULL);
	ck_assert_msg(strstr(captured.data,
			     "connect from localhost[127.0.0.1]\n") != NULL,
		      "%s", captured.data);
	ck_assert_msg(
	    strstr(
		captured.data,
		"NOQUEUE: reject: RCPT from localhost[127.0.0.1]: 550 5.1.1 "
		"<nobody@example.com>: Recipient address rejected: User "
		"unknown in virtual mailbox table; from=<s@remote.example> "
		"to=<nobody@example.com> proto=ESMTP helo=<bad\\134helo>\n") !=
		NULL,
	    "%s", captured.data);
	ck_assert_msg(strstr(captured.data,
			     "ABCDEF0123456789: "
			     "client=localhost[127.0.0.1]\n") != NULL,
		      "%s", captured.data);
	ck_assert_msg(strstr(captured.data,
			     "disconnect from localhost[127.0.0.1] ehlo=1 "
			     "mail=1 rcpt=1/2 data=1 quit=1 commands=5/6\n") !=
			  NULL,
		      "%s", captured.data);
	strbuf_release(&captured);
	strbuf_release(&codes);
	strbuf_release(&full);
}

END_TEST

/* cmd_suite - every command test */
static Suite *cmd_suite(void)
{
	Suite *s = suite_create("smtpd_cmd");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, session_setup, session_teardown);
	tcase_add_test(tc, test_split);
	tcase_add_loop_test(tc, test_sessions, 0,
			    (int)ARRAY_LEN(session_cases));
	tcase_add_test(tc, test_content);
	tcase_add_test(tc, test_cleanup_failures);
	tcase_add_test(tc, test_log_lines);
	tcase_add_test(tc, test_quota);
	tcase_add_test(tc, test_domain_kept);
	suite_add_tcase(s, tc);
	return s;
}

/* main - run the suite */
int main(void)
{
	SRunner *sr = srunner_create(cmd_suite());
	int failed;

	log_init("postern", "test_smtpd_cmd");
	log_set_syslog(false);
	log_set_stderr(false);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
