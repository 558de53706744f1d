/*
 * NAME
 *	test_lda - unit tests for the delivery agent (lda/)
 * SYNOPSIS
 *	build/unit/lda/test_lda
 * DESCRIPTION
 *	proxyd is replaced at link time by a fake lookup client with a
 *	fixed table (no sockets, no database). Tested: per-recipient
 *	outcomes (found, found without the +extension, unknown -> bounce
 *	5.1.1, lookup failure -> defer 4.3.0, unsafe mailbox path -> defer
 *	4.3.5); the virtual service end to end over a socketpair, as an
 *	unprivileged user: greeting, a request with a passed queue file,
 *	the content range read from it, one result per recipient, the
 *	delivered file's bytes; a malformed request answered status=bad;
 *	a queue file shorter than the content range deferred; the service
 *	refusing to run as root; postern-lda's exit codes (0, 64, 67, 69,
 *	75, 77) with a real postern.conf and the message on standard input;
 *	quota: maildirsize kept, over quota deferred 4.2.2 (or bounced with
 *	quota_exceeded_action = bounce), a message larger than the quota
 *	bounced 5.2.2, a message-count limit, a failing limits lookup,
 *	a domain's total quota (deferred 4.2.2, larger than it bounced
 *	5.2.2, a failing lookup deferred 4.3.0).
 * DIAGNOSTICS
 *	Check's report; exit status 1 when a test fails.
 */
#include "sys_defs.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "attr.h"
#include "fileops.h"
#include "log.h"
#include "lookup_clnt.h"
#include "proto_deliver.h"
#include "server.h"
#include "strbuf.h"
#include "xalloc.h"

#include "../../../lda/lda.h"

#define TEST_UID 65534

/* The fake proxyd: (table, address) -> value, or a status. */
static const struct {
	const char *table;
	const char *key;
	int status;
	const char *value;
} fake_limits[] = {
    {LOOKUP_TABLE_LIMITS, "q@example.com", LOOKUP_OK, "300,0,0,0"},
    {LOOKUP_TABLE_LIMITS, "n@example.com", LOOKUP_OK, "0,2,0,0"},
    {LOOKUP_TABLE_LIMITS, "limfail@example.com", LOOKUP_RETRY, NULL},
    {LOOKUP_TABLE_LIMITS, "a@example.com", LOOKUP_OK, "0,0,0,0"},
    {LOOKUP_TABLE_LIMITS, "d@dom.example", LOOKUP_OK, "0,0,0,0"},
    {LOOKUP_TABLE_LIMITS, "d@domfail.example", LOOKUP_OK, "0,0,0,0"},
    {LOOKUP_TABLE_DOMAIN_LIMITS, "example.com", LOOKUP_OK, "0,100"},
    {LOOKUP_TABLE_DOMAIN_LIMITS, "dom.example", LOOKUP_OK, "1000,700"},
    {LOOKUP_TABLE_DOMAIN_LIMITS, "domfail.example", LOOKUP_RETRY, NULL},
};

/* What lookup_quota_update() was last told. */
static char fake_quota_user[64];
static long long fake_quota_bytes, fake_quota_messages;

static const struct {
	const char *key;
	int status;
	const char *value;
} fake_table[] = {
    {"q@example.com", LOOKUP_OK, "example.com/q/"},
    {"n@example.com", LOOKUP_OK, "example.com/n/"},
    {"limfail@example.com", LOOKUP_OK, "example.com/limfail/"},
    {"a@example.com", LOOKUP_OK, "example.com/a/"},
    {"d@dom.example", LOOKUP_OK, "dom.example/d/"},
    {"d@domfail.example", LOOKUP_OK, "domfail.example/d/"},
    {"b@example.com", LOOKUP_OK, "example.com/b"},
    {"retry@example.com", LOOKUP_RETRY, NULL},
    {"deny@example.com", LOOKUP_DENY, NULL},
    {"abs@example.com", LOOKUP_OK, "/etc/"},
    {"up@example.com", LOOKUP_OK, "example.com/../../x/"},
};

static int fake_clnt; /* its address is the fake client */

/* lookup_clnt_create_cfg - the fake client */
struct lookup_clnt *lookup_clnt_create_cfg(const struct config *cfg,
					   bool chrooted)
{
	(void)cfg;
	(void)chrooted;
	return (struct lookup_clnt *)&fake_clnt;
}

/* lookup_clnt_free - forget the fake client */
void lookup_clnt_free(struct lookup_clnt **clntp)
{
	*clntp = NULL;
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

/* lookup_query - answer from fake_table */
int lookup_query(struct lookup_clnt *clnt, const char *table, const char *key,
		 struct strbuf *value, const char **error_r)
{
	size_t i;

	ck_assert_ptr_eq(clnt, (struct lookup_clnt *)&fake_clnt);
	if (strcmp(table, LOOKUP_TABLE_LIMITS) == 0 ||
	    strcmp(table, LOOKUP_TABLE_DOMAIN_LIMITS) == 0) {
		for (i = 0; i < ARRAY_LEN(fake_limits); i++) {
			if (strcmp(fake_limits[i].table, table) != 0 ||
			    strcmp(fake_limits[i].key, key) != 0)
				continue;
			if (fake_limits[i].status == LOOKUP_OK)
				strbuf_copy(value, fake_limits[i].value);
			else if (error_r)
				*error_r = "fake failure";
			return fake_limits[i].status;
		}
		return LOOKUP_NOKEY;
	}
	ck_assert_str_eq(table, LOOKUP_TABLE_MAILBOXES);
	for (i = 0; i < ARRAY_LEN(fake_table); i++) {
		if (strcmp(fake_table[i].key, key) != 0)
			continue;
		if (fake_table[i].status == LOOKUP_OK)
			strbuf_copy(value, fake_table[i].value);
		else if (error_r)
			*error_r = "fake failure";
		return fake_table[i].status;
	}
	if (error_r)
		*error_r = "not found";
	return LOOKUP_NOKEY;
}

/* lookup_quota_update - remember the report */
int lookup_quota_update(struct lookup_clnt *clnt, const char *user,
			long long bytes, long long messages,
			const char **error_r)
{
	(void)error_r;
	ck_assert_ptr_eq(clnt, (struct lookup_clnt *)&fake_clnt);
	snprintf(fake_quota_user, sizeof(fake_quota_user), "%s", user);
	fake_quota_bytes = bytes;
	fake_quota_messages = messages;
	return LOOKUP_OK;
}

/* lookup_status_name - names of the answers */
const char *lookup_status_name(int status)
{
	static const char *const names[] = {"ok", "nokey", "retry", "deny",
					    "bad"};

	return status >= 0 && status < 5 ? names[status] : "unknown";
}

static char test_dir[64];

/* rm_tree - remove a directory tree (no symlinks are followed) */
static void rm_tree(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
	DIR *d;
	struct dirent *de;

	if (fd < 0) {
		(void)unlinkat(dirfd, name, 0);
		return;
	}
	d = fdopendir(fd);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		rm_tree(fd, de->d_name);
	}
	closedir(d);
	(void)unlinkat(dirfd, name, AT_REMOVEDIR);
}

/* setup - an instance directory with postern.conf and a mail base */
static void setup(void)
{
	struct strbuf *p = strbuf_alloc(128);
	struct strbuf *conf = strbuf_alloc(256);

	snprintf(test_dir, sizeof(test_dir), "/tmp/test_lda.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(test_dir));
	ck_assert_int_eq(chmod(test_dir, 0755), 0);
	strbuf_printf(p, "%s/mail", test_dir);
	ck_assert_int_eq(mkdir(p->data, 0770), 0);
	if (geteuid() == 0)
		ck_assert_int_eq(chown(p->data, TEST_UID, TEST_UID), 0);
	strbuf_printf(conf,
		      "virtual_mailbox_base = %s/mail\n"
		      "queue_directory = %s/queue\n"
		      "myhostname = mx.example.com\n",
		      test_dir, test_dir);
	strbuf_printf(p, "%s/postern.conf", test_dir);
	ck_assert_int_eq(
	    file_write_atomic(p->data, conf->data, conf->len, 0644), 0);
	strbuf_free(&p);
	strbuf_free(&conf);
}

/* teardown - remove the instance directory */
static void teardown(void)
{
	rm_tree(AT_FDCWD, test_dir);
}

/* drop_to_nobody - as root, become TEST_UID (in a child) */
static void drop_to_nobody(void)
{
	gid_t gid = TEST_UID;

	if (geteuid() != 0)
		return;
	if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(TEST_UID, TEST_UID, TEST_UID) < 0)
		_exit(99);
}

/* new_files - names in mail/REL/new (owned, NULL-terminated) */
static int count_new(const char *rel, struct strbuf *first)
{
	struct strbuf *p = strbuf_alloc(128);
	DIR *d;
	struct dirent *de;
	int n = 0;

	strbuf_printf(p, "%s/mail/%s/new", test_dir, rel);
	d = opendir(p->data);
	strbuf_free(&p);
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n++ == 0 && first != NULL)
			strbuf_copy(first, de->d_name);
	}
	closedir(d);
	return n;
}

/* read_new - the contents of the only file in mail/REL/new */
static struct strbuf *read_new(const char *rel)
{
	struct strbuf *name = strbuf_alloc(128);
	struct strbuf *p = strbuf_alloc(128);
	struct strbuf *out = strbuf_alloc(256);

	ck_assert_int_eq(count_new(rel, name), 1);
	strbuf_printf(p, "%s/mail/%s/new/%s", test_dir, rel, name->data);
	ck_assert_int_eq(file_read_all(p->data, out, 0), 0);
	strbuf_free(&name);
	strbuf_free(&p);
	return out;
}

/* mem_read - a read callback over a fixed string (ctx: position) */
static ssize_t mem_read(void *ctx, void *buf, size_t len)
{
	static const char msg[] = "Subject: t\r\n\r\nbody\r\n";
	size_t *pos = ctx;
	size_t n = sizeof(msg) - 1 - *pos;

	if (n > len)
		n = len;
	memcpy(buf, msg + *pos, n);
	*pos += n;
	return (ssize_t)n;
}

static struct strbuf *big_body; /* what big_read hands out */

/* big_read - a read callback over big_body (ctx: position) */
static ssize_t big_read(void *ctx, void *buf, size_t len)
{
	size_t *pos = ctx;
	size_t n = big_body->len - *pos;

	if (n > len)
		n = len;
	memcpy(buf, big_body->data + *pos, n);
	*pos += n;
	return (ssize_t)n;
}

/* read_rel_file - the contents of test_dir/rel */
static struct strbuf *read_rel_file(const char *rel)
{
	struct strbuf *p = strbuf_alloc(128);
	struct strbuf *out = strbuf_alloc(256);

	strbuf_printf(p, "%s/%s", test_dir, rel);
	ck_assert_msg(file_read_all(p->data, out, 0) == 0, "read %s", p->data);
	strbuf_free(&p);
	return out;
}

/* test_deliver_rcpt - each lookup answer gives its outcome */
START_TEST(test_deliver_rcpt)
{
	static const struct {
		const char *rcpt;
		enum deliver_status want;
		const char *want_dsn;
		const char *want_dir; /* under mail/, or NULL */
	} cases[] = {
	    {"a@example.com", DELIVER_OK, "2.0.0", "example.com/a"},
	    {"a+news@example.com", DELIVER_OK, "2.0.0", "example.com/a"},
	    {"b@example.com", DELIVER_OK, "2.0.0", "example.com/b"},
	    {"nobody@example.com", DELIVER_BOUNCE, "5.1.1", NULL},
	    {"nobody+x@example.com", DELIVER_BOUNCE, "5.1.1", NULL},
	    {"retry@example.com", DELIVER_DEFER, "4.3.0", NULL},
	    {"deny@example.com", DELIVER_DEFER, "4.3.0", NULL},
	    {"abs@example.com", DELIVER_DEFER, "4.3.5", NULL},
	    {"up@example.com", DELIVER_DEFER, "4.3.5", NULL},
	};
	struct config cfg;
	struct strbuf *why = strbuf_alloc(64);
	struct lda_ctx ctx = {.cfg = &cfg, .recipient_delim = "+"};
	size_t i;

	ck_assert_int_eq(config_load(&cfg, test_dir, why), 0);
	ctx.base_fd = lda_open_base(&cfg, why);
	ck_assert_int_ge(ctx.base_fd, 0);
	ctx.lookup = lookup_clnt_create_cfg(&cfg, false);
	for (i = 0; i < ARRAY_LEN(cases); i++) {
		struct deliver_request req;
		size_t pos = 0;
		struct lda_source src = {mem_read, &pos};
		int before =
		    cases[i].want_dir ? count_new(cases[i].want_dir, NULL) : 0;

		deliver_request_init(&req);
		(void)deliver_request_add_rcpt(&req, cases[i].rcpt, "");
		lda_deliver_rcpt(&ctx, "QID1", "s@example.org", &req.rcpt[0],
				 &src);
		ck_assert_msg(req.rcpt[0].status == cases[i].want,
			      "case %zu (%s): status %d (%s %s)", i,
			      cases[i].rcpt, req.rcpt[0].status,
			      req.rcpt[0].dsn, req.rcpt[0].reason);
		ck_assert_msg(strcmp(req.rcpt[0].dsn, cases[i].want_dsn) == 0,
			      "case %zu: dsn %s", i, req.rcpt[0].dsn);
		if (cases[i].want_dir)
			ck_assert_int_eq(count_new(cases[i].want_dir, NULL),
					 before + 1);
		deliver_request_release(&req);
	}
	/* The Delivered-To header names the address as given. */
	{
		struct strbuf *got = read_new("example.com/b");

		ck_assert_str_eq(got->data, "Return-Path: <s@example.org>\n"
					    "Delivered-To: b@example.com\n"
					    "Subject: t\n\nbody\n");
		strbuf_free(&got);
	}
	(void)close(ctx.base_fd);
	config_release(&cfg);
	strbuf_free(&why);
}

END_TEST

/* deliver_one - lda_deliver_rcpt with a body of n bytes */
static void deliver_one(struct lda_ctx *ctx, const char *rcpt, size_t n,
			struct deliver_request *req)
{
	struct strbuf *sb = strbuf_alloc(n + 1);
	size_t pos = 0;
	struct lda_source src = {big_read, &pos};

	while (sb->len < n)
		strbuf_addch(sb, 'x');
	big_body = sb;
	deliver_request_init(req);
	(void)deliver_request_add_rcpt(req, rcpt, "");
	lda_deliver_rcpt(ctx, "QID2", "s@x", &req->rcpt[0], &src);
	big_body = NULL;
	strbuf_free(&sb);
}

/* test_quota - maildirsize kept; over quota defers, too big bounces */
START_TEST(test_quota)
{
	struct config cfg;
	struct strbuf *why = strbuf_alloc(64);
	struct lda_ctx ctx = {.cfg = &cfg, .recipient_delim = "+"};
	struct deliver_request req;
	struct strbuf *got;
	struct strbuf *want = strbuf_alloc(64);
	const char *err = NULL;
	long long s1;

	ck_assert_int_eq(config_load(&cfg, test_dir, why), 0);
	ctx.base_fd = lda_open_base(&cfg, why);
	ctx.lookup = lookup_clnt_create_cfg(&cfg, false);

	/* 300-byte quota: 150 fits, the next 150 does not, 400 never. */
	deliver_one(&ctx, "q+tag@example.com", 100, &req);
	ck_assert_int_eq(req.rcpt[0].status, DELIVER_OK);
	ck_assert_str_eq(fake_quota_user, "q@example.com");
	ck_assert_int_eq(fake_quota_messages, 1);
	s1 = fake_quota_bytes;
	got = read_rel_file("mail/example.com/q/maildirsize");
	strbuf_printf(want, "300S\n0 0\n%lld 1\n", s1);
	ck_assert_str_eq(got->data, want->data);
	strbuf_free(&got);
	deliver_request_release(&req);

	deliver_one(&ctx, "q@example.com", 200, &req);
	ck_assert_int_eq(req.rcpt[0].status, DELIVER_DEFER);
	ck_assert_str_eq(req.rcpt[0].dsn, "4.2.2");
	ck_assert_ptr_nonnull(strstr(req.rcpt[0].reason, "mailbox full"));
	deliver_request_release(&req);

	deliver_one(&ctx, "q@example.com", 400, &req);
	ck_assert_int_eq(req.rcpt[0].status, DELIVER_BOUNCE);
	ck_assert_str_eq(req.rcpt[0].dsn, "5.2.2");
	deliver_request_release(&req);
	ck_assert_int_eq(count_new("example.com/q", NULL), 1);

	/* quota_exceeded_action = bounce */
	ck_assert_int_eq(
	    config_set(&cfg, "quota_exceeded_action", "bounce", &err), 0);
	deliver_one(&ctx, "q@example.com", 200, &req);
	ck_assert_int_eq(req.rcpt[0].status, DELIVER_BOUNCE);
	ck_assert_str_eq(req.rcpt[0].dsn, "5.2.2");
	deliver_request_release(&req);

	/* A message-count limit of 2. */
	deliver_one(&ctx, "n@example.com", 10, &req);
	ck_assert_int_eq(req.rcpt[0].status, DELIVER_OK);
	deliver_request_release(&req);
	deliver_one(&ctx, "n@example.com", 10, &req);
	ck_assert_int_eq(req.rcpt[0].status, DELIVER_OK);
	deliver_request_release(&req);
	deliver_one(&ctx, "n@example.com", 10, &req);
	ck_assert_int_eq(req.rcpt[0].status, DELIVER_BOUNCE);
	deliver_request_release(&req);
	ck_assert_int_eq(count_new("example.com/n", NULL), 2);

	/* No limits: delivered, maildirsize still kept ("0S"). */
	deliver_one(&ctx, "a@example.com", 10, &req);
	ck_assert_int_eq(req.rcpt[0].status, DELIVER_OK);
	deliver_request_release(&req);
	got = read_rel_file("mail/example.com/a/maildirsize");
	ck_assert_int_eq(strncmp(got->data, "0S\n", 3), 0);
	strbuf_free(&got);

	/* Domain total 1000 bytes, 700 used: 200 fits, 400 is deferred,
	 * 1100 is larger than it all; the domain lookup fails: defer. */
	ck_assert_int_eq(
	    config_set(&cfg, "quota_exceeded_action", "defer", &err), 0);
	deliver_one(&ctx, "d@dom.example", 200, &req);
	ck_assert_int_eq(req.rcpt[0].status, DELIVER_OK);
	deliver_request_release(&req);
	deliver_one(&ctx, "d@dom.example", 400, &req);
	ck_assert_int_eq(req.rcpt[0].status, DELIVER_DEFER);
	ck_assert_str_eq(req.rcpt[0].dsn, "4.2.2");
	ck_assert_ptr_nonnull(
	    strstr(req.rcpt[0].reason, "domain quota exceeded"));
	deliver_request_release(&req);
	deliver_one(&ctx, "d@dom.example", 1100, &req);
	ck_assert_int_eq(req.rcpt[0].status, DELIVER_BOUNCE);
	ck_assert_str_eq(req.rcpt[0].dsn, "5.2.2");
	deliver_request_release(&req);
	ck_assert_int_eq(count_new("dom.example/d", NULL), 1);
	deliver_one(&ctx, "d@domfail.example", 10, &req);
	ck_assert_int_eq(req.rcpt[0].status, DELIVER_DEFER);
	ck_assert_str_eq(req.rcpt[0].dsn, "4.3.0");
	deliver_request_release(&req);

	/* The limits lookup fails: defer, nothing delivered. */
	deliver_one(&ctx, "limfail@example.com", 10, &req);
	ck_assert_int_eq(req.rcpt[0].status, DELIVER_DEFER);
	ck_assert_str_eq(req.rcpt[0].dsn, "4.3.0");
	deliver_request_release(&req);
	ck_assert_int_eq(count_new("example.com/limfail", NULL), 0);

	(void)close(ctx.base_fd);
	config_release(&cfg);
	strbuf_free(&want);
	strbuf_free(&why);
}

END_TEST

/* make_server - a struct server as the skeleton would fill it */
static void make_server(struct server *srv)
{
	struct strbuf *why = strbuf_alloc(64);

	memset(srv, 0, sizeof(*srv));
	srv->spec = &lda_server_spec;
	srv->config_dir = test_dir;
	srv->service_name = "virtual";
	srv->listen_fd = -1;
	ck_assert_int_eq(config_load(&srv->cfg, test_dir, why), 0);
	strbuf_free(&why);
}

/* run_service - fork the service on one end of a socketpair */
static pid_t run_service(int *client_r)
{
	int sv[2];
	pid_t pid;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct server srv;

		(void)close(sv[0]);
		make_server(&srv);
		lda_server_spec.pre_init(&srv);
		drop_to_nobody();
		lda_server_spec.post_init(&srv);
		lda_server_spec.serve(&srv, sv[1]);
		lda_server_spec.pre_exit(&srv);
		_exit(0);
	}
	(void)close(sv[1]);
	*client_r = sv[0];
	return pid;
}

/* queue_file - an unlinked file: junk, then the message at offset 9 */
static int queue_file(void)
{
	static const char data[] = "QUEUEHDR:Subject: q\n\nline 1\r\nline 2\n"
				   "TRAILER";
	char tmpl[] = "/tmp/test_lda_q.XXXXXX";
	int fd = mkstemp(tmpl);

	ck_assert_int_ge(fd, 0);
	(void)unlink(tmpl);
	ck_assert_int_eq(file_write_all(fd, data, sizeof(data) - 1), 0);
	return fd;
}

/* test_service - a deliver request end to end */
START_TEST(test_service)
{
	struct deliver_request req;
	struct strbuf *in = strbuf_alloc(256);
	const char *err = "";
	struct strbuf *got;
	int status;
	int sock;
	pid_t pid = run_service(&sock);

	ck_assert_int_eq(attr_expect_hello(sock, in, DELIVER_PROTOCOL,
					   DELIVER_VERSION, 10000, &err),
			 0);
	deliver_request_init(&req);
	req.queue_id = xstrdup("4Xq9");
	req.sender = xstrdup("");
	req.content_offset = 9;
	req.content_length = 27;
	req.arrival = 1700000000;
	req.fd = queue_file();
	(void)deliver_request_add_rcpt(&req, "a@example.com", "");
	(void)deliver_request_add_rcpt(&req, "ghost@example.com", "");
	(void)deliver_request_add_rcpt(&req, "retry@example.com", "");
	(void)deliver_request_add_rcpt(&req, "b@example.com", "");
	ck_assert_int_eq(deliver_request_send(sock, &req, 10000), 0);
	ck_assert_msg(deliver_reply_read(sock, in, &req, 10000, &err) == 0,
		      "reply: %s", err);
	ck_assert_str_eq(req.relay, "virtual");
	ck_assert_int_eq(req.rcpt[0].status, DELIVER_OK);
	ck_assert_str_eq(req.rcpt[0].dsn, "2.0.0");
	ck_assert_int_eq(req.rcpt[1].status, DELIVER_BOUNCE);
	ck_assert_str_eq(req.rcpt[1].dsn, "5.1.1");
	ck_assert_ptr_nonnull(strstr(req.rcpt[1].reason, "unknown user"));
	ck_assert_int_eq(req.rcpt[2].status, DELIVER_DEFER);
	ck_assert_str_eq(req.rcpt[2].dsn, "4.3.0");
	ck_assert_int_eq(req.rcpt[3].status, DELIVER_OK);

	/* A second request on the same connection: a short queue file. */
	deliver_set_result(&req.rcpt[0], DELIVER_DEFER, "4.0.0", "reset");
	req.content_length = 1000;
	ck_assert_int_eq(deliver_request_send(sock, &req, 10000), 0);
	ck_assert_int_eq(deliver_reply_read(sock, in, &req, 10000, &err), 0);
	ck_assert_int_eq(req.rcpt[0].status, DELIVER_DEFER);
	ck_assert_ptr_nonnull(strstr(req.rcpt[0].reason, "queue file"));
	deliver_request_release(&req);
	(void)close(sock);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	got = read_new("example.com/a");
	ck_assert_str_eq(got->data, "Return-Path: <>\n"
				    "Delivered-To: a@example.com\n"
				    "Subject: q\n\nline 1\nline 2\n");
	strbuf_free(&got);
	ck_assert_int_eq(count_new("example.com/b", NULL), 1);
	strbuf_free(&in);
}

END_TEST

/* test_service_bad - a malformed request gets status=bad */
START_TEST(test_service_bad)
{
	static const char bad[] = "7:request,5:frob,0:,";
	struct attr_msg *msg = attr_msg_alloc();
	struct strbuf *in = strbuf_alloc(256);
	const char *err = "";
	int status;
	int sock;
	pid_t pid = run_service(&sock);

	ck_assert_int_eq(attr_expect_hello(sock, in, DELIVER_PROTOCOL,
					   DELIVER_VERSION, 10000, &err),
			 0);
	ck_assert_int_eq(write(sock, bad, sizeof(bad) - 1),
			 (ssize_t)sizeof(bad) - 1);
	ck_assert_int_eq(attr_read(sock, in, msg, 10000, &err), 0);
	ck_assert_str_eq(attr_get_str(msg, ATTR_STATUS), "bad");
	(void)close(sock);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	attr_msg_free(&msg);
	strbuf_free(&in);
}

END_TEST

/* test_service_root - post_init refuses root (exit 1) */
START_TEST(test_service_root)
{
	struct server srv;

	make_server(&srv);
	if (geteuid() != 0) {
		/* Not root: nothing to refuse; end as the refusal would. */
		exit(1);
	}
	lda_server_spec.post_init(&srv);
}

END_TEST

/* run_standalone - postern-lda in a child: its exit code */
static int run_standalone(bool drop, const char *input, const char *const *args)
{
	pid_t pid;
	int status;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char *argv[16];
		int n = 0;
		int fd;
		char tmpl[] = "/tmp/test_lda_in.XXXXXX";

		fd = mkstemp(tmpl);
		if (fd < 0 || file_write_all(fd, input, strlen(input)) < 0 ||
		    lseek(fd, 0, SEEK_SET) < 0 || dup2(fd, 0) < 0)
			_exit(98);
		(void)unlink(tmpl);
		if (drop)
			drop_to_nobody();
		argv[n++] = xstrdup("postern-lda");
		while (*args && n < 15)
			argv[n++] = xstrdup(*args++);
		argv[n] = NULL;
		optind = 1;
		_exit(lda_standalone_main(n, argv));
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* test_standalone - postern-lda's exit codes */
START_TEST(test_standalone)
{
	const char *ok[] = {"-c", test_dir,        "-f", "s@x.org",
			    "-a", "a@example.com", NULL};
	const char *nouser[] = {"-c", test_dir, "-a", "ghost@example.com",
				NULL};
	const char *retry[] = {"-c", test_dir, "-a", "retry@example.com", NULL};
	const char *unsafe[] = {"-c", test_dir, "-a", "up@example.com", NULL};
	const char *noconf[] = {"-c", "/nonexistent", "-a", "a@example.com",
				NULL};
	const char *toobig[] = {"-c", test_dir, "-a", "q@example.com", NULL};
	char big[500];
	const char *usage1[] = {"-c", test_dir, NULL};
	const char *usage2[] = {"-c", test_dir, "-a", "a@x", "extra", NULL};
	struct strbuf *got;

	if (geteuid() == 0)
		ck_assert_int_eq(run_standalone(false, "x\n", ok), 77);
	ck_assert_int_eq(run_standalone(true, "Subject: s\r\n\r\nhi\r\n", ok),
			 0);
	got = read_new("example.com/a");
	ck_assert_str_eq(got->data, "Return-Path: <s@x.org>\n"
				    "Delivered-To: a@example.com\n"
				    "Subject: s\n\nhi\n");
	strbuf_free(&got);
	ck_assert_int_eq(run_standalone(true, "x\n", nouser), 67);
	ck_assert_int_eq(run_standalone(true, "x\n", retry), 75);
	ck_assert_int_eq(run_standalone(true, "x\n", unsafe), 75);
	ck_assert_int_eq(run_standalone(true, "x\n", noconf), 75);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(run_standalone(true, big, toobig), 69);
	ck_assert_int_eq(run_standalone(true, "x\n", usage1), 64);
	ck_assert_int_eq(run_standalone(true, "x\n", usage2), 64);
	ck_assert_int_eq(count_new("example.com/a", NULL), 1);
}

END_TEST

/* lda_suite - every lda test */
static Suite *lda_suite(void)
{
	Suite *s = suite_create("lda");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_deliver_rcpt);
	tcase_add_test(tc, test_quota);
	tcase_add_test(tc, test_service);
	tcase_add_test(tc, test_service_bad);
	tcase_add_exit_test(tc, test_service_root, 1);
	tcase_add_test(tc, test_standalone);
	suite_add_tcase(s, tc);
	return s;
}

/* main - run the suite */
int main(void)
{
	SRunner *sr = srunner_create(lda_suite());
	int failed;

	log_init("postern", "test_lda");
	log_set_syslog(false);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
