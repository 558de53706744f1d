/*
 * NAME
 *	proto_cleanup - the cleanup protocol: specs and a blocking client
 * SYNOPSIS
 *	see proto_cleanup.h
 * DESCRIPTION
 *	The spec tables map each request onto its struct (attr_scan());
 *	server and client use the same tables, so an attribute exists in
 *	one place only.
 *
 *	The client keeps one output buffer: envelope, rcpt and data
 *	requests are appended to it and written when it passes 128 KiB or
 *	when a reply is awaited, so a message costs a handful of writes.
 *	Message bytes are cut into CLEANUP_CHUNK_MAX data requests. The
 *	first failed write is remembered; cleanup_clnt_end() then still
 *	tries to read the server's verdict (a server that refused a request
 *	says why before it closes) and otherwise reports RETRY with the
 *	reason "lost connection to cleanup".
 *
 *	A cleanup connection whose message was queued is not closed by
 *	cleanup_clnt_free(): it is kept (one per process) for the next
 *	cleanup_clnt_open() to the same socket within CLEANUP_PARK_MS,
 *	which then sends its `open` there and skips the connect, the
 *	server's accept and hello, and its busy/idle reports to master.
 *	cleanup waits 2 seconds for that next `open`; a kept connection
 *	the server closed meanwhile (idle, max_use, killed) fails before
 *	any message was started on it, and the client then connects
 *	afresh, so reuse never changes what a caller sees.
 * DIAGNOSTICS
 *	Nothing is logged here; results carry a reason.
 * SEE ALSO
 *	docs/ipc.md, daemons/cleanup, daemons/pickup
 */
#include "sys_defs.h"

#include <errno.h>
#include <unistd.h>

#include "attr.h"
#include "event.h"
#include "ipc.h"
#include "proto_cleanup.h"
#include "strbuf.h"
#include "xalloc.h"

#define CLEANUP_OUT_FLUSH (128 * 1024)
#define CLEANUP_PARK_MS 1000 /* the server waits 2000 */

#define SPEC_STR(st, field, req)                                          \
	{                                                                 \
#field, ATTR_TYPE_STR, offsetof(struct st, field), 0, req \
	}
#define SPEC_INT(st, field, req)                                          \
	{                                                                 \
#field, ATTR_TYPE_INT, offsetof(struct st, field), 0, req \
	}

const struct attr_spec cleanup_open_specs[] = {
    SPEC_STR(cleanup_open_req, request, true),
    SPEC_STR(cleanup_open_req, origin, true),
    SPEC_STR(cleanup_open_req, client_name, false),
    SPEC_STR(cleanup_open_req, client_addr, false),
    SPEC_STR(cleanup_open_req, helo, false),
    SPEC_STR(cleanup_open_req, protocol, false),
    SPEC_STR(cleanup_open_req, sasl_username, false),
    SPEC_INT(cleanup_open_req, submit_uid, false),
};
const size_t cleanup_open_nspecs = ARRAY_LEN(cleanup_open_specs);

const struct attr_spec submit_open_specs[] = {
    SPEC_STR(cleanup_open_req, request, true),
};
const size_t submit_open_nspecs = ARRAY_LEN(submit_open_specs);

const struct attr_spec cleanup_envelope_specs[] = {
    SPEC_STR(cleanup_envelope_req, request, true),
    SPEC_STR(cleanup_envelope_req, sender, true),
    SPEC_STR(cleanup_envelope_req, ret, false),
    SPEC_STR(cleanup_envelope_req, envid, false),
    SPEC_STR(cleanup_envelope_req, body, false),
    SPEC_INT(cleanup_envelope_req, smtputf8, false),
};
const size_t cleanup_envelope_nspecs = ARRAY_LEN(cleanup_envelope_specs);

const struct attr_spec cleanup_rcpt_specs[] = {
    SPEC_STR(cleanup_rcpt_req, request, true),
    SPEC_STR(cleanup_rcpt_req, address, true),
    SPEC_STR(cleanup_rcpt_req, orcpt, false),
    SPEC_STR(cleanup_rcpt_req, notify, false),
};
const size_t cleanup_rcpt_nspecs = ARRAY_LEN(cleanup_rcpt_specs);

const struct attr_spec cleanup_data_specs[] = {
    SPEC_STR(cleanup_data_req, request, true),
    {"chunk", ATTR_TYPE_DATA, offsetof(struct cleanup_data_req, chunk),
     offsetof(struct cleanup_data_req, chunk_len), true},
};
const size_t cleanup_data_nspecs = ARRAY_LEN(cleanup_data_specs);

const struct attr_spec cleanup_end_specs[] = {
    SPEC_STR(cleanup_end_req, request, true),
};
const size_t cleanup_end_nspecs = ARRAY_LEN(cleanup_end_specs);

const struct attr_spec cleanup_reply_specs[] = {
    SPEC_STR(cleanup_reply, status, true),
    SPEC_STR(cleanup_reply, queue_id, false),
    SPEC_STR(cleanup_reply, dsn, false),
    SPEC_STR(cleanup_reply, reason, false),
};
const size_t cleanup_reply_nspecs = ARRAY_LEN(cleanup_reply_specs);

struct cleanup_clnt {
	int fd;
	int timeout_ms;
	struct strbuf *out;
	struct strbuf *in;
	struct strbuf *chunk;
	struct attr_msg *msg;
	char *path;
	char queue_id[QID_SIZE];
	bool reusable; /* CLEANUP_PROTOCOL: the server takes more messages */
	bool failed;
	bool ended;
	bool queued; /* the end verdict was ok */
};

/* The finished connection kept for the next message, or NULL. */
static struct cleanup_clnt *cleanup_parked;
static int64_t cleanup_parked_at;

static void cleanup_clnt_close(struct cleanup_clnt *c);

/* cleanup_put_reply - encode a reply; NULL fields are left out */
void cleanup_put_reply(struct strbuf *out, const char *status,
		       const char *queue_id, const char *dsn,
		       const char *reason)
{
	attr_put_str(out, ATTR_STATUS, status);
	if (queue_id != NULL)
		attr_put_str(out, "queue_id", queue_id);
	if (dsn != NULL)
		attr_put_str(out, "dsn", dsn);
	if (reason != NULL)
		attr_put_str(out, ATTR_REASON, reason);
	attr_put_end(out);
}

/* cleanup_result_set - fill a result */
static void cleanup_result_set(struct cleanup_result *res,
			       enum cleanup_stat status, const char *dsn,
			       const char *reason)
{
	res->status = status;
	res->queue_id[0] = '\0';
	(void)snprintf(res->dsn, sizeof(res->dsn), "%s", dsn);
	(void)snprintf(res->reason, sizeof(res->reason), "%s", reason);
}

/* cleanup_dsn_ok - d.d{1,3}.d{1,3} with the class the status implies */
static bool cleanup_dsn_ok(const char *dsn, char cls)
{
	size_t i, dots = 0, digits = 0;

	if (dsn == NULL || dsn[0] != cls || dsn[1] != '.')
		return false;
	for (i = 2; dsn[i] != '\0'; i++) {
		if (dsn[i] == '.') {
			if (digits == 0 || ++dots > 1)
				return false;
			digits = 0;
		} else if (dsn[i] >= '0' && dsn[i] <= '9') {
			if (++digits > 3)
				return false;
		} else {
			return false;
		}
	}
	return dots == 1 && digits > 0;
}

/* cleanup_flush - write the output buffer */
static int cleanup_flush(struct cleanup_clnt *c)
{
	if (c->failed)
		return -1;
	if (c->out->len > 0 && attr_write(c->fd, c->out, c->timeout_ms) < 0) {
		c->failed = true;
		return -1;
	}
	strbuf_reset(c->out);
	return 0;
}

/* cleanup_maybe_flush - write when the buffer is large */
static int cleanup_maybe_flush(struct cleanup_clnt *c)
{
	if (c->failed)
		return -1;
	return c->out->len >= CLEANUP_OUT_FLUSH ? cleanup_flush(c) : 0;
}

/* cleanup_read_reply - read and interpret one reply; *lost_r (when
 * not NULL) tells whether the connection failed */
static enum cleanup_stat cleanup_read_reply(struct cleanup_clnt *c,
					    struct cleanup_result *res,
					    int timeout_ms, bool *lost_r)
{
	struct cleanup_reply r = {NULL, NULL, NULL, NULL};
	const char *error = NULL;

	if (lost_r != NULL)
		*lost_r = false;
	if (attr_read(c->fd, c->in, c->msg, timeout_ms, &error) < 0) {
		if (lost_r != NULL)
			*lost_r = true;
		cleanup_result_set(res, CLEANUP_STAT_RETRY, "4.3.0",
				   "lost connection to cleanup");
		return res->status;
	}
	if (attr_scan(c->msg, cleanup_reply_specs, cleanup_reply_nspecs, &r,
		      &error) < 0) {
		cleanup_result_set(res, CLEANUP_STAT_RETRY, "4.3.0",
				   "malformed reply from cleanup");
		return res->status;
	}
	if (strcmp(r.status, "ok") == 0) {
		if (r.queue_id == NULL || !qid_valid(r.queue_id)) {
			cleanup_result_set(res, CLEANUP_STAT_RETRY, "4.3.0",
					   "malformed reply from cleanup");
			return res->status;
		}
		cleanup_result_set(res, CLEANUP_STAT_OK, "2.0.0",
				   r.reason ? r.reason : "queued");
		memcpy(res->queue_id, r.queue_id, QID_SIZE);
		return res->status;
	}
	if (strcmp(r.status, "fail") == 0) {
		cleanup_result_set(res, CLEANUP_STAT_FAIL,
				   cleanup_dsn_ok(r.dsn, '5') ? r.dsn : "5.0.0",
				   r.reason ? r.reason : "message refused");
		return res->status;
	}
	/* retry, and deny/bad/anything else: temporary */
	cleanup_result_set(res, CLEANUP_STAT_RETRY,
			   cleanup_dsn_ok(r.dsn, '4') ? r.dsn : "4.3.0",
			   r.reason ? r.reason : "temporary failure");
	return res->status;
}

/* cleanup_put_open - queue the open request */
static void cleanup_put_open(struct cleanup_clnt *c, const char *protocol,
			     const struct cleanup_open_info *info)
{
	attr_put_str(c->out, ATTR_REQUEST, CLEANUP_REQ_OPEN);
	if (info != NULL && strcmp(protocol, CLEANUP_PROTOCOL) == 0) {
		attr_put_str(c->out, "origin", info->origin);
		if (info->client_name != NULL)
			attr_put_str(c->out, "client_name", info->client_name);
		if (info->client_addr != NULL)
			attr_put_str(c->out, "client_addr", info->client_addr);
		if (info->helo != NULL)
			attr_put_str(c->out, "helo", info->helo);
		if (info->protocol != NULL)
			attr_put_str(c->out, "protocol", info->protocol);
		if (info->sasl_username != NULL)
			attr_put_str(c->out, "sasl_username",
				     info->sasl_username);
		if (info->submit_uid >= 0)
			attr_put_int(c->out, "submit_uid", info->submit_uid);
	}
	attr_put_end(c->out);
}

/* cleanup_unpark - the kept connection to path, if still fresh */
static struct cleanup_clnt *cleanup_unpark(const char *path, int timeout_ms)
{
	struct cleanup_clnt *c = cleanup_parked;

	if (c == NULL)
		return NULL;
	cleanup_parked = NULL;
	if (strcmp(c->path, path) != 0 ||
	    ev_now_ms() - cleanup_parked_at > CLEANUP_PARK_MS) {
		cleanup_clnt_close(c);
		return NULL;
	}
	c->timeout_ms = timeout_ms;
	c->failed = c->ended = c->queued = false;
	c->queue_id[0] = '\0';
	strbuf_reset(c->out);
	strbuf_reset(c->in);
	strbuf_reset(c->chunk);
	return c;
}

/* cleanup_reopen - open the next message on a kept connection: the
 * connection, or NULL with res filled; *lost_r: it was dead */
static struct cleanup_clnt *cleanup_reopen(struct cleanup_clnt *c,
					   const struct cleanup_open_info *info,
					   struct cleanup_result *res,
					   bool *lost_r)
{
	cleanup_put_open(c, CLEANUP_PROTOCOL, info);
	*lost_r = cleanup_flush(c) < 0;
	if (*lost_r || cleanup_read_reply(c, res, c->timeout_ms, lost_r) !=
			   CLEANUP_STAT_OK) {
		cleanup_clnt_close(c);
		return NULL;
	}
	memcpy(c->queue_id, res->queue_id, QID_SIZE);
	return c;
}

/* cleanup_clnt_open - open a message: on the kept connection, or on a
 * new one (connect, send open, check the hello) */
struct cleanup_clnt *cleanup_clnt_open(const char *path, const char *protocol,
				       int timeout_ms,
				       const struct cleanup_open_info *info,
				       struct cleanup_result *res)
{
	struct cleanup_clnt *c;
	const char *error = NULL;
	bool lost;
	int fd;

	if (strcmp(protocol, CLEANUP_PROTOCOL) == 0 &&
	    (c = cleanup_unpark(path, timeout_ms)) != NULL) {
		if ((c = cleanup_reopen(c, info, res, &lost)) != NULL || !lost)
			return c;
		/* The server closed the kept connection: start afresh. */
	}
	fd = ipc_connect_unix(path, timeout_ms);
	if (fd < 0) {
		cleanup_result_set(res, CLEANUP_STAT_RETRY, "4.3.0",
				   "cannot connect to the mail system");
		(void)snprintf(res->reason, sizeof(res->reason),
			       "connect %s: %s", path, strerror(errno));
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	c->fd = fd;
	c->timeout_ms = timeout_ms;
	c->path = xstrdup(path);
	c->reusable = strcmp(protocol, CLEANUP_PROTOCOL) == 0;
	c->out = strbuf_alloc(CLEANUP_OUT_FLUSH + CLEANUP_CHUNK_MAX + 1024);
	c->in = strbuf_alloc(1024);
	c->chunk = strbuf_alloc(CLEANUP_CHUNK_MAX);
	c->msg = attr_msg_alloc();
	/* The open request goes out before the hello is read: both
	 * answers then come back in one wait, not two. Nothing is trusted
	 * before the hello has been checked. */
	cleanup_put_open(c, protocol, info);
	if (cleanup_flush(c) < 0) {
		cleanup_result_set(res, CLEANUP_STAT_RETRY, "4.3.0",
				   "lost connection to cleanup");
		cleanup_clnt_close(c);
		return NULL;
	}
	if (attr_expect_hello(fd, c->in, protocol, CLEANUP_PROTO_VERSION,
			      timeout_ms, &error) < 0) {
		cleanup_result_set(res, CLEANUP_STAT_RETRY, "4.3.0", "");
		(void)snprintf(res->reason, sizeof(res->reason),
			       "%s: protocol error: %s", path, error);
		cleanup_clnt_close(c);
		return NULL;
	}
	if (cleanup_read_reply(c, res, timeout_ms, NULL) != CLEANUP_STAT_OK) {
		cleanup_clnt_close(c);
		return NULL;
	}
	memcpy(c->queue_id, res->queue_id, QID_SIZE);
	return c;
}

/* cleanup_clnt_queue_id - the id cleanup assigned (borrowed) */
const char *cleanup_clnt_queue_id(const struct cleanup_clnt *clnt)
{
	return clnt->queue_id;
}

/* cleanup_clnt_envelope - queue the envelope request */
int cleanup_clnt_envelope(struct cleanup_clnt *clnt, const char *sender,
			  const char *ret, const char *envid, const char *body,
			  bool smtputf8)
{
	attr_put_str(clnt->out, ATTR_REQUEST, CLEANUP_REQ_ENVELOPE);
	attr_put_str(clnt->out, "sender", sender);
	if (ret != NULL && *ret)
		attr_put_str(clnt->out, "ret", ret);
	if (envid != NULL && *envid)
		attr_put_str(clnt->out, "envid", envid);
	if (body != NULL && *body)
		attr_put_str(clnt->out, "body", body);
	if (smtputf8)
		attr_put_int(clnt->out, "smtputf8", 1);
	attr_put_end(clnt->out);
	return cleanup_maybe_flush(clnt);
}

/* cleanup_clnt_rcpt - queue one rcpt request */
int cleanup_clnt_rcpt(struct cleanup_clnt *clnt, const char *address,
		      const char *orcpt, const char *notify)
{
	attr_put_str(clnt->out, ATTR_REQUEST, CLEANUP_REQ_RCPT);
	attr_put_str(clnt->out, "address", address);
	if (orcpt != NULL && *orcpt)
		attr_put_str(clnt->out, "orcpt", orcpt);
	if (notify != NULL && *notify)
		attr_put_str(clnt->out, "notify", notify);
	attr_put_end(clnt->out);
	return cleanup_maybe_flush(clnt);
}

/* cleanup_put_chunk - move the pending chunk into the output */
static int cleanup_put_chunk(struct cleanup_clnt *c)
{
	if (c->chunk->len == 0)
		return 0;
	attr_put_str(c->out, ATTR_REQUEST, CLEANUP_REQ_DATA);
	attr_put_data(c->out, "chunk", c->chunk->data, c->chunk->len);
	attr_put_end(c->out);
	strbuf_reset(c->chunk);
	return cleanup_maybe_flush(c);
}

/* cleanup_clnt_data - message bytes (LF line endings, headers first) */
int cleanup_clnt_data(struct cleanup_clnt *clnt, const void *data, size_t len)
{
	const char *p = data;
	size_t room;

	while (len > 0) {
		room = CLEANUP_CHUNK_MAX - clnt->chunk->len;
		if (room > len)
			room = len;
		(void)strbuf_catn(clnt->chunk, p, room);
		p += room;
		len -= room;
		if (clnt->chunk->len == CLEANUP_CHUNK_MAX &&
		    cleanup_put_chunk(clnt) < 0)
			return -1;
	}
	return clnt->failed ? -1 : 0;
}

/* cleanup_clnt_end - finish the message and wait for the verdict */
enum cleanup_stat cleanup_clnt_end(struct cleanup_clnt *clnt,
				   struct cleanup_result *res)
{
	if (clnt->ended) {
		cleanup_result_set(res, CLEANUP_STAT_RETRY, "4.3.0",
				   "message already ended");
		return res->status;
	}
	clnt->ended = true;
	(void)cleanup_put_chunk(clnt);
	attr_put_str(clnt->out, ATTR_REQUEST, CLEANUP_REQ_END);
	attr_put_end(clnt->out);
	/* Even when a write failed, the server may have said why. */
	if (cleanup_flush(clnt) < 0)
		return cleanup_read_reply(clnt, res, 1000, NULL);
	clnt->queued = cleanup_read_reply(clnt, res, clnt->timeout_ms, NULL) ==
		       CLEANUP_STAT_OK;
	return res->status;
}

/* cleanup_clnt_close - disconnect and free */
static void cleanup_clnt_close(struct cleanup_clnt *c)
{
	(void)close(c->fd);
	free(c->path);
	strbuf_free(&c->out);
	strbuf_free(&c->in);
	strbuf_free(&c->chunk);
	attr_msg_free(&c->msg);
	free(c);
}

/* cleanup_clnt_free - keep a connection whose message was queued for
 * the next one; disconnect any other (abandoning an unfinished message) */
void cleanup_clnt_free(struct cleanup_clnt **clntp)
{
	struct cleanup_clnt *c = *clntp;

	if (c == NULL)
		return;
	*clntp = NULL;
	if (!c->reusable || !c->queued || c->failed) {
		cleanup_clnt_close(c);
		return;
	}
	if (cleanup_parked != NULL)
		cleanup_clnt_close(cleanup_parked);
	cleanup_parked = c;
	cleanup_parked_at = ev_now_ms();
}
