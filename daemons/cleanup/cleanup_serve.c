/*
 * NAME
 *	cleanup_serve - one conversation of the cleanup protocol
 * SYNOPSIS
 *	see cleanup.h
 * DESCRIPTION
 *	cleanup_serve() speaks docs/ipc.md's cleanup protocol with one
 *	client (smtpd, pickup, bounce) and enqueues at most one message:
 *
 *	  open      validate the client attributes, make a queue id, create
 *	            incoming/.tmp.QID (qfile_writer), reply status=ok.
 *	  envelope  sender and DSN envelope (no reply).
 *	  rcpt      collected (no reply); expanded at the end.
 *	  data      through the content filter (cleanup_message.c) into the
 *	            content record (no reply).
 *	  end       verdict: too big (fail 5.3.4), too many Received headers
 *	            (fail 5.4.6), no recipients (fail 5.5.1), then virtual
 *	            alias expansion (cleanup_alias.c; a lookup failure is
 *	            retry), then the recipient records and
 *	            qfile_writer_finish() (fsync, rename, fsync directory).
 *	            Only then status=ok queue_id=QID; then a best-effort
 *	            request=wakeup to private/qmgr, on a connection the
 *	            process keeps for its next messages.
 *
 *	After a verdict the client may open its next message on the same
 *	connection (lib/proto_cleanup.c keeps a finished connection for
 *	the process's next message). The connection ends when the client
 *	closes it, when no open arrives within CLEANUP_REUSE_IDLE_MS, or
 *	after CLEANUP_REUSE_MAX messages, so a process serves at most
 *	max_use connections of at most CLEANUP_REUSE_MAX messages each.
 *
 *	Requests out of order, unknown requests or malformed attributes get
 *	status=bad and the connection is closed; a client that goes away
 *	before `end` abandons the message and its temporary file is
 *	removed. Every field that reaches the queue file is bounded and
 *	free of control characters, so nothing a client sends can forge a
 *	record.
 * DIAGNOSTICS
 *	"QID: message-id=<...>" for each queued message; "QID: reject:
 *	REASON; from=<S>" for refusals; warnings for malformed requests and
 *	queue file errors (with the system error).
 * SEE ALSO
 *	docs/ipc.md, docs/queue-format.md, lib/qfile.c, lib/proto_cleanup.c
 */
#include "sys_defs.h"

#include <errno.h>
#include <limits.h>
#include <time.h>
#include <unistd.h>

#include "attr.h"
#include "ipc.h"
#include "log.h"
#include "lookup_clnt.h"
#include "proto_cleanup.h"
#include "qfile.h"
#include "qid.h"
#include "server.h"
#include "strbuf.h"
#include "xalloc.h"

#include "cleanup.h"

enum cleanup_stage {
	STAGE_NEW,      /* waiting for open */
	STAGE_OPEN,     /* waiting for envelope */
	STAGE_ENVELOPE, /* rcpt and data */
};

/* How long a connection whose message is done waits for the next open,
 * and how many messages one connection may carry. */
#define CLEANUP_REUSE_IDLE_MS 2000
#define CLEANUP_REUSE_MAX 100

struct cleanup_state {
	struct server *srv;
	struct cleanup_ctx *ctx;
	int fd;
	enum cleanup_stage stage;
	char queue_id[QID_SIZE];
	struct qfile_writer *w;
	char *sender;
	struct cleanup_rcpt_list rcpts;
	bool rcpt_overflow;
	bool content_started;
	struct cleanup_content cc;
	struct strbuf *out;
	unsigned long messages; /* verdicts given on this connection */
};

/* cleanup_field_ok - a client value fit for the queue file and logs */
static bool cleanup_field_ok(const char *s, size_t max)
{
	size_t i;

	if (s == NULL)
		return true;
	for (i = 0; s[i] != '\0'; i++)
		if (i >= max || (unsigned char)s[i] < 32 || s[i] == 127)
			return false;
	return true;
}

/* cleanup_reply - send a reply; false when the client is gone */
static bool cleanup_reply(struct cleanup_state *st, const char *status,
			  const char *dsn, const char *reason)
{
	strbuf_reset(st->out);
	cleanup_put_reply(st->out, status,
			  strcmp(status, "ok") == 0 ? st->queue_id : NULL, dsn,
			  reason);
	return attr_write(st->fd, st->out, st->ctx->timeout_ms) == 0;
}

/* cleanup_bad - refuse a malformed request */
static void cleanup_bad(struct cleanup_state *st, const char *why)
{
	log_warn("%s%smalformed request from client: %s",
		 st->queue_id[0] ? st->queue_id : "",
		 st->queue_id[0] ? ": " : "", why);
	(void)cleanup_reply(st, "bad", NULL, why);
}

/* cleanup_put_opt - write an attribute record when the value is set */
static void cleanup_put_opt(struct cleanup_state *st, const char *name,
			    const char *value)
{
	if (value != NULL && *value != '\0')
		(void)qfile_put_attr(st->w, name, value);
}

/* cleanup_do_open - start a message */
static bool cleanup_do_open(struct cleanup_state *st,
			    const struct attr_msg *msg)
{
	struct cleanup_open_req req;
	struct strbuf *why;
	const char *error = NULL;
	char uid[32];
	int tries;

	memset(&req, 0, sizeof(req));
	req.submit_uid = -1;
	if (attr_scan(msg, cleanup_open_specs, cleanup_open_nspecs, &req,
		      &error) < 0) {
		cleanup_bad(st, error);
		return false;
	}
	if (strcmp(req.origin, "smtpd") != 0 &&
	    strcmp(req.origin, "pickup") != 0 &&
	    strcmp(req.origin, "bounce") != 0) {
		cleanup_bad(st, "unknown origin");
		return false;
	}
	if (!cleanup_field_ok(req.client_name, 255) ||
	    !cleanup_field_ok(req.client_addr, 64) ||
	    !cleanup_field_ok(req.helo, 255) ||
	    !cleanup_field_ok(req.protocol, 16) ||
	    !cleanup_field_ok(req.sasl_username, 255) || req.submit_uid < -1 ||
	    req.submit_uid > UINT32_MAX) {
		cleanup_bad(st, "malformed client attribute");
		return false;
	}
	why = strbuf_alloc(128);
	for (tries = 0; tries < 3 && st->w == NULL; tries++) {
		qid_make(st->queue_id);
		strbuf_reset(why);
		st->w = qfile_writer_create(st->ctx->incoming_fd, st->queue_id,
					    why);
		if (st->w == NULL && errno != EEXIST)
			break;
	}
	if (st->w == NULL) {
		log_warn("queue file: %s", strbuf_str(why));
		st->queue_id[0] = '\0';
		(void)cleanup_reply(st, "retry", "4.3.0",
				    "queue file write error");
		strbuf_free(&why);
		return false;
	}
	strbuf_free(&why);
	(void)qfile_put_arrival(st->w, (long long)time(NULL));
	(void)qfile_put_attr(st->w, "origin", req.origin);
	cleanup_put_opt(st, "client_name", req.client_name);
	cleanup_put_opt(st, "client_addr", req.client_addr);
	cleanup_put_opt(st, "helo", req.helo);
	cleanup_put_opt(st, "protocol", req.protocol);
	cleanup_put_opt(st, "sasl_username", req.sasl_username);
	if (req.submit_uid >= 0) {
		(void)snprintf(uid, sizeof(uid), "%lld", req.submit_uid);
		(void)qfile_put_attr(st->w, "submit_uid", uid);
	}
	st->stage = STAGE_OPEN;
	return cleanup_reply(st, "ok", NULL, NULL);
}

/* cleanup_do_envelope - the sender and the DSN envelope */
static bool cleanup_do_envelope(struct cleanup_state *st,
				const struct attr_msg *msg)
{
	struct cleanup_envelope_req req;
	const char *error = NULL;

	memset(&req, 0, sizeof(req));
	if (attr_scan(msg, cleanup_envelope_specs, cleanup_envelope_nspecs,
		      &req, &error) < 0) {
		cleanup_bad(st, error);
		return false;
	}
	if (!cleanup_field_ok(req.sender, 1000) ||
	    !cleanup_field_ok(req.envid, 100) ||
	    (req.ret != NULL && strcmp(req.ret, "FULL") != 0 &&
	     strcmp(req.ret, "HDRS") != 0) ||
	    (req.body != NULL && strcmp(req.body, "7BIT") != 0 &&
	     strcmp(req.body, "8BITMIME") != 0) ||
	    req.smtputf8 < 0 || req.smtputf8 > 1) {
		cleanup_bad(st, "malformed envelope attribute");
		return false;
	}
	st->sender = xstrdup(req.sender);
	(void)qfile_put_sender(st->w, req.sender);
	if (req.ret != NULL || req.envid != NULL)
		(void)qfile_put_dsn(st->w, req.ret, req.envid);
	cleanup_put_opt(st, "body", req.body);
	if (req.smtputf8)
		(void)qfile_put_attr(st->w, "smtputf8", "1");
	st->stage = STAGE_ENVELOPE;
	return true;
}

/* cleanup_notify_ok - NEVER, or a list of SUCCESS, FAILURE, DELAY */
static bool cleanup_notify_ok(const char *s)
{
	static const char *const words[] = {"SUCCESS", "FAILURE", "DELAY"};
	size_t i, n;

	if (s == NULL || strcmp(s, "NEVER") == 0)
		return true;
	for (;;) {
		for (i = 0; i < ARRAY_LEN(words); i++) {
			n = strlen(words[i]);
			if (strncmp(s, words[i], n) == 0 &&
			    (s[n] == ',' || s[n] == '\0'))
				break;
		}
		if (i == ARRAY_LEN(words))
			return false;
		s += n;
		if (*s == '\0')
			return true;
		s++;
	}
}

/* cleanup_do_rcpt - one recipient, kept for expansion at the end */
static bool cleanup_do_rcpt(struct cleanup_state *st,
			    const struct attr_msg *msg)
{
	struct cleanup_rcpt_req req;
	const char *error = NULL;

	memset(&req, 0, sizeof(req));
	if (attr_scan(msg, cleanup_rcpt_specs, cleanup_rcpt_nspecs, &req,
		      &error) < 0) {
		cleanup_bad(st, error);
		return false;
	}
	if (*req.address == '\0' || !cleanup_field_ok(req.address, 1000) ||
	    strchr(req.address, ' ') != NULL ||
	    !cleanup_field_ok(req.orcpt, 1000) ||
	    !cleanup_notify_ok(req.notify)) {
		cleanup_bad(st, "malformed recipient attribute");
		return false;
	}
	if (st->rcpts.n >= QFILE_RCPT_MAX) {
		st->rcpt_overflow = true;
		return true;
	}
	(void)cleanup_rcpt_add(&st->rcpts, req.address, req.orcpt, req.notify,
			       req.address);
	return true;
}

/* cleanup_content_out - the content filter's output: the queue file */
static int cleanup_content_out(void *ctx, const void *data, size_t len)
{
	struct cleanup_state *st = ctx;

	return qfile_content_append(st->w, data, len);
}

/* cleanup_start_content - open the content record */
static void cleanup_start_content(struct cleanup_state *st)
{
	if (st->content_started)
		return;
	st->content_started = true;
	st->cc.queue_id = st->queue_id;
	st->cc.myhostname = st->srv->cfg.myhostname;
	st->cc.size_limit = st->srv->cfg.message_size_limit;
	st->cc.hop_limit = st->srv->cfg.hopcount_limit;
	st->cc.now = (long long)time(NULL);
	st->cc.out = cleanup_content_out;
	st->cc.out_ctx = st;
	cleanup_content_init(&st->cc);
	(void)qfile_content_begin(st->w);
}

/* cleanup_do_data - a chunk of content */
static bool cleanup_do_data(struct cleanup_state *st,
			    const struct attr_msg *msg)
{
	struct cleanup_data_req req;
	const char *error = NULL;

	memset(&req, 0, sizeof(req));
	if (attr_scan(msg, cleanup_data_specs, cleanup_data_nspecs, &req,
		      &error) < 0) {
		cleanup_bad(st, error);
		return false;
	}
	cleanup_start_content(st);
	(void)cleanup_content_feed(&st->cc, req.chunk, req.chunk_len);
	return true;
}

/* cleanup_lookup_alias - the lookup callback: proxyd's
 * virtual_alias_maps */
static enum cleanup_lookup cleanup_lookup_alias(void *ctx, const char *key,
						struct strbuf *value,
						const char **error_r)
{
	struct lookup_clnt *clnt = ctx;

	switch (lookup_query(clnt, LOOKUP_TABLE_ALIASES, key, value, error_r)) {
	case LOOKUP_OK:
		return CLEANUP_LOOKUP_OK;
	case LOOKUP_NOKEY:
		return CLEANUP_LOOKUP_NOKEY;
	default:
		return CLEANUP_LOOKUP_RETRY;
	}
}

/* cleanup_qmgr_connect - the connection to qmgr, made when missing:
 * 0, or -1 (logged) */
static int cleanup_qmgr_connect(struct cleanup_state *st)
{
	struct cleanup_ctx *ctx = st->ctx;
	struct strbuf *in;
	const char *error = NULL;
	int fd;

	if (ctx->qmgr_fd >= 0)
		return 0;
	fd = ipc_connect_unix(ctx->qmgr_path, 1000);
	if (fd < 0) {
		log_debug("%s: no qmgr to wake up: %m", st->queue_id);
		return -1;
	}
	in = strbuf_alloc(128);
	if (attr_expect_hello(fd, in, "qmgr", 1, 1000, &error) < 0) {
		log_debug("%s: qmgr wakeup: %s", st->queue_id, error);
		(void)close(fd);
		strbuf_free(&in);
		return -1;
	}
	strbuf_free(&in);
	ctx->qmgr_fd = fd;
	return 0;
}

/* cleanup_wakeup_qmgr - tell qmgr about a new file; failure is fine.
 * The connection is kept for the next message: a connect, qmgr's
 * accept and greeting and both closes per message cost more than the
 * wakeup itself. A write that fails (qmgr restarted and the old
 * connection is closed) is tried once more on a new connection. */
static void cleanup_wakeup_qmgr(struct cleanup_state *st)
{
	struct cleanup_ctx *ctx = st->ctx;
	int attempt;

	strbuf_reset(st->out);
	attr_put_str(st->out, ATTR_REQUEST, "wakeup");
	attr_put_str(st->out, "queue_id", st->queue_id);
	attr_put_end(st->out);
	for (attempt = 0; attempt < 2; attempt++) {
		if (cleanup_qmgr_connect(st) < 0)
			return;
		if (attr_write(ctx->qmgr_fd, st->out, 1000) == 0)
			return;
		log_debug("%s: qmgr wakeup: %m", st->queue_id);
		(void)close(ctx->qmgr_fd);
		ctx->qmgr_fd = -1;
	}
}

/* cleanup_reject - refuse the message for good; false if the client is gone */
static bool cleanup_reject(struct cleanup_state *st, const char *dsn,
			   const char *reason)
{
	log_info("%s: reject: %s; from=<%s>, dsn=%s", st->queue_id,
		 log_esc(reason), log_esc(st->sender), dsn);
	qfile_writer_free(&st->w); /* gone before the client hears */
	return cleanup_reply(st, "fail", dsn, reason);
}

/* cleanup_defer - refuse the message for now; false if the client is gone */
static bool cleanup_defer(struct cleanup_state *st, const char *dsn,
			  const char *reason)
{
	log_warn("%s: message not queued: %s; from=<%s>", st->queue_id,
		 log_esc(reason), log_esc(st->sender));
	return cleanup_reply(st, "retry", dsn, reason);
}

/* cleanup_do_end - the verdict, and the queue file made durable; true
 * when the client heard it (and may send its next message) */
static bool cleanup_do_end(struct cleanup_state *st, const struct attr_msg *msg)
{
	struct cleanup_end_req req;
	struct cleanup_rcpt_list final;
	struct strbuf *why = strbuf_alloc(128);
	const char *error = NULL, *dsn = NULL;
	enum cleanup_expand ex = CLEANUP_EXPAND_OK;
	char size[32];
	size_t i;
	bool heard = false;

	memset(&final, 0, sizeof(final));
	memset(&req, 0, sizeof(req));
	if (attr_scan(msg, cleanup_end_specs, cleanup_end_nspecs, &req,
		      &error) < 0) {
		cleanup_bad(st, error);
		goto out;
	}
	cleanup_start_content(st);
	(void)cleanup_content_finish(&st->cc);
	(void)qfile_content_end(st->w);
	if (cleanup_content_too_big(&st->cc)) {
		heard = cleanup_reject(st, "5.3.4",
				       "message size exceeds fixed limit");
		goto out;
	}
	if (cleanup_content_looping(&st->cc)) {
		heard = cleanup_reject(st, "5.4.6", "too many hops");
		goto out;
	}
	if (st->rcpts.n == 0) {
		heard = cleanup_reject(st, "5.5.1", "no recipients specified");
		goto out;
	}
	if (st->rcpt_overflow) {
		heard = cleanup_reject(st, "5.5.3", "too many recipients");
		goto out;
	}
	for (i = 0; i < st->rcpts.n && ex == CLEANUP_EXPAND_OK; i++) {
		const struct cleanup_rcpt *r = &st->rcpts.v[i];

		if (st->ctx->lookup == NULL) {
			(void)cleanup_rcpt_add(&final, r->address, r->orcpt,
					       r->notify, r->original);
			continue;
		}
		ex = cleanup_expand(&final, r->address, r->orcpt, r->notify,
				    cleanup_lookup_alias, st->ctx->lookup,
				    st->queue_id, why, &dsn);
	}
	if (ex == CLEANUP_EXPAND_RETRY) {
		heard = cleanup_defer(st, dsn, strbuf_str(why));
		goto out;
	}
	if (ex == CLEANUP_EXPAND_FAIL) {
		heard = cleanup_reject(st, dsn, strbuf_str(why));
		goto out;
	}
	for (i = 0; i < final.n; i++)
		(void)qfile_put_rcpt(st->w, final.v[i].address,
				     final.v[i].orcpt, final.v[i].notify,
				     final.v[i].original);
	(void)snprintf(size, sizeof(size), "%lld", st->cc.size);
	(void)qfile_put_attr(st->w, "size", size);
	cleanup_put_opt(st, "message_id", st->cc.message_id);
	strbuf_reset(why);
	if (qfile_writer_finish(st->w, why) < 0) {
		log_warn("%s: queue file: %s", st->queue_id, strbuf_str(why));
		if (qfile_writer_no_space(st->w))
			heard = cleanup_defer(st, "4.3.1",
					      "insufficient system storage");
		else
			heard = cleanup_defer(st, "4.3.0",
					      "queue file write error");
		goto out;
	}
	log_info("%s: message-id=%s", st->queue_id, log_esc(st->cc.message_id));
	heard = cleanup_reply(st, "ok", NULL, NULL);
	if (heard)
		cleanup_wakeup_qmgr(st);
	else
		log_warn("%s: client went away before the reply (the message "
			 "is queued)",
			 st->queue_id);
out:
	cleanup_rcpt_list_release(&final);
	strbuf_free(&why);
	return heard;
}

/* cleanup_clear - forget the message of the conversation */
static void cleanup_clear(struct cleanup_state *st)
{
	qfile_writer_free(&st->w);
	if (st->content_started)
		cleanup_content_release(&st->cc);
	st->content_started = false;
	cleanup_rcpt_list_release(&st->rcpts);
	xfree(&st->sender);
	st->rcpt_overflow = false;
	st->queue_id[0] = '\0';
	st->stage = STAGE_NEW;
}

/* cleanup_next_message - after a verdict: may another open follow */
static bool cleanup_next_message(struct cleanup_state *st)
{
	cleanup_clear(st);
	return ++st->messages < CLEANUP_REUSE_MAX;
}

/* cleanup_dispatch - one request; false ends the conversation */
static bool cleanup_dispatch(struct cleanup_state *st,
			     const struct attr_msg *msg)
{
	const char *request = attr_get_str(msg, ATTR_REQUEST);

	if (request == NULL) {
		cleanup_bad(st, "no request attribute");
		return false;
	}
	if (strcmp(request, CLEANUP_REQ_OPEN) == 0 && st->stage == STAGE_NEW)
		return cleanup_do_open(st, msg);
	if (strcmp(request, CLEANUP_REQ_ENVELOPE) == 0 &&
	    st->stage == STAGE_OPEN)
		return cleanup_do_envelope(st, msg);
	if (strcmp(request, CLEANUP_REQ_RCPT) == 0 &&
	    st->stage == STAGE_ENVELOPE && !st->content_started)
		return cleanup_do_rcpt(st, msg);
	if (strcmp(request, CLEANUP_REQ_DATA) == 0 &&
	    st->stage == STAGE_ENVELOPE)
		return cleanup_do_data(st, msg);
	if (strcmp(request, CLEANUP_REQ_END) == 0 &&
	    st->stage == STAGE_ENVELOPE)
		return cleanup_do_end(st, msg) && cleanup_next_message(st);
	cleanup_bad(st, "unexpected request");
	return false;
}

/* cleanup_serve - serve one client: its messages, one at a time */
void cleanup_serve(struct server *srv, int fd)
{
	struct cleanup_state st;
	struct strbuf *in = strbuf_alloc(CLEANUP_CHUNK_MAX + 1024);
	struct attr_msg *msg = attr_msg_alloc();
	const char *error = NULL;

	memset(&st, 0, sizeof(st));
	st.srv = srv;
	st.ctx = srv->ctx;
	st.fd = fd;
	st.out = strbuf_alloc(256);
	if (attr_send_hello(fd, CLEANUP_PROTOCOL, CLEANUP_PROTO_VERSION) < 0)
		goto out;
	for (;;) {
		bool between = st.stage == STAGE_NEW && st.messages > 0;

		if (attr_read(fd, in, msg,
			      between ? CLEANUP_REUSE_IDLE_MS
				      : st.ctx->timeout_ms,
			      &error) < 0) {
			if (st.stage != STAGE_NEW)
				log_info("%s: %s before the end of the "
					 "message; nothing queued",
					 st.queue_id, error);
			else if (!between &&
				 strcmp(error, "connection closed") != 0)
				log_warn("client: %s", error);
			break;
		}
		if (!cleanup_dispatch(&st, msg))
			break;
	}
out:
	cleanup_clear(&st);
	strbuf_free(&st.out);
	strbuf_free(&in);
	attr_msg_free(&msg);
}
