/*
 * NAME
 *	lookup_clnt - blocking client of proxyd
 * SYNOPSIS
 *	see lookup_clnt.h
 * DESCRIPTION
 *	One connection to private/proxyd, opened at the first request and
 *	kept for the next ones. Each request is written, then its reply
 *	read, both with the deadline given at creation (proxyd_timeout).
 *	When a kept connection turns out to be dead (proxyd restarted, or
 *	closed an idle client) the request is sent once more on a fresh
 *	connection; a fresh connection that fails gives LOOKUP_RETRY.
 *
 *	lookup_prefetch() writes several requests at once and reads their
 *	replies in order (proxyd answers a client's requests in the order
 *	they came); the answers are kept in a small memo that
 *	lookup_query() consults before asking proxyd, until
 *	lookup_prefetch_drop().
 *
 *	Any trouble talking to proxyd (no socket, timeout, garbage) is
 *	LOOKUP_RETRY: the caller answers 4xx or defers, never "user
 *	unknown".
 * DIAGNOSTICS
 *	The LOOKUP_* codes; *error_r says why on anything but LOOKUP_OK.
 * SEE ALSO
 *	docs/proxyd.md, proto_proxyd.h
 */
#include "sys_defs.h"

#include <errno.h>
#include <unistd.h>

#include "attr.h"
#include "ipc.h"
#include "lookup_clnt.h"
#include "params.h"
#include "proto_proxyd.h"
#include "strbuf.h"
#include "xalloc.h"

/* One answer: to a request in flight, or prefetched (the memo). */
struct lookup_answer {
	char *table, *key;    /* memo only */
	int status;           /* LOOKUP_* */
	struct strbuf *value; /* on LOOKUP_OK; NULL: not wanted */
	struct strbuf *error; /* otherwise: why (allocated on demand) */
};

struct lookup_clnt {
	char *path;
	int timeout_ms;
	int fd;
	bool used; /* the connection has answered a request */
	struct strbuf in;
	struct strbuf out;
	struct strbuf error;
	struct attr_msg *msg;
	struct lookup_answer memo[LOOKUP_PREFETCH_MAX];
	size_t memo_count;
};

/* lookup_clnt_create - a client of the proxyd socket at path */
struct lookup_clnt *lookup_clnt_create(const char *path, int timeout_ms)
{
	struct lookup_clnt *c = xcalloc(1, sizeof(*c));

	c->path = xstrdup(path);
	c->timeout_ms = timeout_ms;
	c->fd = -1;
	strbuf_init(&c->in, 256);
	strbuf_init(&c->out, 256);
	strbuf_init(&c->error, 64);
	c->msg = attr_msg_alloc();
	return c;
}

/* lookup_clnt_create_cfg - the instance's proxyd, proxyd_timeout */
struct lookup_clnt *lookup_clnt_create_cfg(const struct config *cfg,
					   bool chrooted)
{
	struct lookup_clnt *c;
	char *path;

	if (chrooted)
		path = xstrdup("private/proxyd");
	else
		path = xasprintf("%s/private/proxyd", cfg->queue_directory);
	c = lookup_clnt_create(path, (int)(cfg->proxyd_timeout * 1000));
	free(path);
	return c;
}

/* lookup_clnt_close - drop the connection */
static void lookup_clnt_close(struct lookup_clnt *c)
{
	if (c->fd >= 0)
		(void)close(c->fd);
	c->fd = -1;
	c->used = false;
	strbuf_reset(&c->in);
}

/* lookup_clnt_free - close and release */
void lookup_clnt_free(struct lookup_clnt **clntp)
{
	struct lookup_clnt *c = *clntp;

	if (c == NULL)
		return;
	lookup_clnt_close(c);
	lookup_prefetch_drop(c);
	free(c->path);
	strbuf_release(&c->in);
	explicit_bzero(c->out.data, c->out.cap);
	strbuf_release(&c->out);
	strbuf_release(&c->error);
	attr_msg_free(&c->msg);
	free(c);
	*clntp = NULL;
}

/* lookup_fail - keep an error text and return LOOKUP_RETRY */
static int lookup_fail(struct lookup_clnt *c, const char *what,
		       const char *detail, const char **error_r)
{
	strbuf_printf(&c->error, "proxyd %s: %s: %s", c->path, what, detail);
	if (error_r != NULL)
		*error_r = strbuf_str(&c->error);
	return LOOKUP_RETRY;
}

/* lookup_connect - open the socket and check the hello */
static int lookup_connect(struct lookup_clnt *c, const char **detail_r)
{
	c->fd = ipc_connect_unix(c->path, c->timeout_ms);
	if (c->fd < 0) {
		*detail_r =
		    errno == ETIMEDOUT ? "connect timeout" : strerror(errno);
		return -1;
	}
	strbuf_reset(&c->in);
	if (attr_expect_hello(c->fd, &c->in, PROXYD_PROTOCOL, PROXYD_VERSION,
			      c->timeout_ms, detail_r) < 0) {
		lookup_clnt_close(c);
		return -1;
	}
	return 0;
}

/* lookup_answer_error - keep a non-OK answer's reason in *error */
static void lookup_answer_error(struct strbuf **error, int status,
				const char *reason)
{
	if (*error == NULL)
		*error = strbuf_alloc(64);
	strbuf_printf(*error, "proxyd: %s%s%s", proxyd_status_name(status),
		      reason ? ": " : "", reason ? reason : "");
}

/* lookup_decode - c->msg as a reply into *ans: 0, or -1 with *detail_r */
static int lookup_decode(struct lookup_clnt *c, struct lookup_answer *ans,
			 const char **detail_r)
{
	struct proxyd_reply reply;

	memset(&reply, 0, sizeof(reply));
	if (attr_scan(c->msg, proxyd_reply_spec, proxyd_reply_spec_count,
		      &reply, detail_r) < 0)
		return -1;
	if ((ans->status = proxyd_status_parse(reply.status)) < 0) {
		*detail_r = "unknown status";
		return -1;
	}
	if (ans->value != NULL) {
		strbuf_reset(ans->value);
		if (ans->status == LOOKUP_OK && reply.value != NULL)
			strbuf_catn(ans->value, reply.value, reply.value_len);
	}
	if (ans->status != LOOKUP_OK)
		lookup_answer_error(&ans->error, ans->status, reply.reason);
	return 0;
}

/*
 * lookup_call - send c->out (count requests), read and decode the
 * count replies into answers. LOOKUP_OK when every reply arrived (each
 * answer has its own status), else LOOKUP_RETRY with *error_r. A kept
 * connection found dead before the first reply is replaced once.
 */
static int lookup_call(struct lookup_clnt *c, struct lookup_answer *answers,
		       size_t count, const char **error_r)
{
	const char *detail = NULL;
	int attempt;
	size_t i;

	for (attempt = 0;; attempt++) {
		bool reused = c->fd >= 0 && c->used;

		if (c->fd < 0 && lookup_connect(c, &detail) < 0)
			return lookup_fail(c, "connect", detail, error_r);
		if (attr_write(c->fd, &c->out, c->timeout_ms) < 0) {
			detail = errno == ETIMEDOUT ? "write timeout"
						    : strerror(errno);
			lookup_clnt_close(c);
			if (reused && attempt == 0)
				continue;
			return lookup_fail(c, "write", detail, error_r);
		}
		if (attr_read(c->fd, &c->in, c->msg, c->timeout_ms, &detail) <
		    0) {
			bool closed = strcmp(detail, "connection closed") == 0;

			lookup_clnt_close(c);
			if (reused && closed && attempt == 0)
				continue;
			return lookup_fail(c, "read", detail, error_r);
		}
		break;
	}
	for (i = 0; i < count; i++) {
		if (i > 0 && attr_read(c->fd, &c->in, c->msg, c->timeout_ms,
				       &detail) < 0) {
			lookup_clnt_close(c);
			return lookup_fail(c, "read", detail, error_r);
		}
		if (lookup_decode(c, &answers[i], &detail) < 0) {
			lookup_clnt_close(c);
			return lookup_fail(c, "reply", detail, error_r);
		}
	}
	c->used = true;
	return LOOKUP_OK;
}

/* lookup_one - send c->out (one request) and return its answer */
static int lookup_one(struct lookup_clnt *c, struct strbuf *value,
		      const char **error_r)
{
	struct lookup_answer ans = {.value = value};
	int status;

	status = lookup_call(c, &ans, 1, error_r);
	if (status == LOOKUP_OK && (status = ans.status) != LOOKUP_OK) {
		strbuf_printf(&c->error, "%s", strbuf_str(ans.error));
		if (error_r != NULL)
			*error_r = strbuf_str(&c->error);
	}
	strbuf_free(&ans.error);
	return status;
}

/* lookup_memo_find - the prefetched answer to (table, key), or NULL */
static struct lookup_answer *
lookup_memo_find(struct lookup_clnt *c, const char *table, const char *key)
{
	size_t i;

	for (i = 0; i < c->memo_count; i++) {
		struct lookup_answer *a = &c->memo[i];

		if (strcmp(a->table, table) == 0 && strcmp(a->key, key) == 0)
			return a;
	}
	return NULL;
}

/* lookup_prefetch_drop - forget prefetched answers nobody asked for */
void lookup_prefetch_drop(struct lookup_clnt *c)
{
	size_t i;

	for (i = 0; i < c->memo_count; i++) {
		free(c->memo[i].table);
		free(c->memo[i].key);
		strbuf_free(&c->memo[i].value);
		strbuf_free(&c->memo[i].error);
	}
	c->memo_count = 0;
}

/* lookup_prefetch - ask several lookups in one round trip */
void lookup_prefetch(struct lookup_clnt *c, const struct lookup_key *keys,
		     size_t count)
{
	size_t i;

	lookup_prefetch_drop(c);
	if (count > LOOKUP_PREFETCH_MAX)
		count = LOOKUP_PREFETCH_MAX;
	strbuf_reset(&c->out);
	for (i = 0; i < count; i++) {
		struct proxyd_request req = {.kind = PROXYD_KIND_LOOKUP,
					     .table = keys[i].table,
					     .key = keys[i].key};
		struct lookup_answer *a = &c->memo[i];

		proxyd_request_encode(&c->out, &req);
		memset(a, 0, sizeof(*a));
		a->table = xstrdup(keys[i].table);
		a->key = xstrdup(keys[i].key);
		a->value = strbuf_alloc(64);
	}
	c->memo_count = count;
	/* A failure leaves nothing: the lookups then ask for themselves. */
	if (lookup_call(c, c->memo, count, NULL) != LOOKUP_OK)
		lookup_prefetch_drop(c);
}

/* lookup_query - ask proxyd for key in table (or take its prefetched
 * answer) */
int lookup_query(struct lookup_clnt *c, const char *table, const char *key,
		 struct strbuf *value, const char **error_r)
{
	struct lookup_answer *a = lookup_memo_find(c, table, key);
	struct proxyd_request req = {
	    .kind = PROXYD_KIND_LOOKUP, .table = table, .key = key};

	strbuf_reset(value);
	if (a != NULL) {
		strbuf_catn(value, a->value->data, a->value->len);
		if (a->status != LOOKUP_OK) {
			strbuf_printf(&c->error, "%s", strbuf_str(a->error));
			if (error_r != NULL)
				*error_r = strbuf_str(&c->error);
		}
		return a->status;
	}
	strbuf_reset(&c->out);
	proxyd_request_encode(&c->out, &req);
	return lookup_one(c, value, error_r);
}

/* lookup_auth - is this the user's password? */
int lookup_auth(struct lookup_clnt *c, const char *user, const char *password,
		const char **error_r)
{
	int status;
	struct proxyd_request req = {
	    .kind = PROXYD_KIND_AUTH, .user = user, .password = password};

	strbuf_reset(&c->out);
	proxyd_request_encode(&c->out, &req);
	status = lookup_one(c, NULL, error_r);
	explicit_bzero(c->out.data, c->out.cap);
	return status;
}

/* lookup_quota_update - add a delivery (or removal) to quota2 */
int lookup_quota_update(struct lookup_clnt *c, const char *user,
			long long bytes, long long messages,
			const char **error_r)
{
	struct proxyd_request req = {.kind = PROXYD_KIND_QUOTA,
				     .user = user,
				     .bytes = bytes,
				     .messages = messages};

	strbuf_reset(&c->out);
	proxyd_request_encode(&c->out, &req);
	return lookup_one(c, NULL, error_r);
}

/* lookup_status_name - a LOOKUP_* code as a word */
const char *lookup_status_name(int status)
{
	return proxyd_status_name(status);
}
