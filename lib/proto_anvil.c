/*
 * NAME
 *	proto_anvil - the anvil protocol: specs and a blocking client
 * SYNOPSIS
 *	see proto_anvil.h
 * DESCRIPTION
 *	The spec tables map each request and the reply onto their structs
 *	(attr_scan()); anvil and this client use the same tables.
 *
 *	The client opens its connection at the first request and keeps it:
 *	the connection is what anvil ties a client's `connect` to, so
 *	closing it (anvil_clnt_free(), or the process dying) is a
 *	disconnect. A connection that fails is closed and the request
 *	answered ANVIL_STAT_FAIL; the next request opens a new one. There
 *	is no retry on a fresh connection: a new anvil knows nothing of
 *	the old connection's registrations, and the caller fails open
 *	anyway.
 * DIAGNOSTICS
 *	Nothing is logged here; ANVIL_STAT_FAIL results carry a reason.
 * SEE ALSO
 *	docs/anvil.md, docs/ipc.md, daemons/anvil, daemons/smtpd
 */
#include "sys_defs.h"

#include <errno.h>
#include <unistd.h>

#include "attr.h"
#include "ipc.h"
#include "proto_anvil.h"
#include "strbuf.h"
#include "xalloc.h"

#define SPEC_STR(st, field, req)                                          \
	{                                                                 \
#field, ATTR_TYPE_STR, offsetof(struct st, field), 0, req \
	}
#define SPEC_INT(st, field, req)                                          \
	{                                                                 \
#field, ATTR_TYPE_INT, offsetof(struct st, field), 0, req \
	}

const struct attr_spec anvil_connect_specs[] = {
    SPEC_STR(anvil_request, request, true),
    SPEC_STR(anvil_request, service, true),
    SPEC_STR(anvil_request, addr, true),
    SPEC_INT(anvil_request, count_limit, false),
    SPEC_INT(anvil_request, rate_limit, false),
};
const size_t anvil_connect_nspecs = ARRAY_LEN(anvil_connect_specs);

const struct attr_spec anvil_disconnect_specs[] = {
    SPEC_STR(anvil_request, request, true),
    SPEC_STR(anvil_request, service, true),
    SPEC_STR(anvil_request, addr, true),
};
const size_t anvil_disconnect_nspecs = ARRAY_LEN(anvil_disconnect_specs);

const struct attr_spec anvil_auth_specs[] = {
    SPEC_STR(anvil_request, request, true),
    SPEC_STR(anvil_request, service, true),
    SPEC_STR(anvil_request, addr, true),
    SPEC_INT(anvil_request, rate_limit, false),
    SPEC_INT(anvil_request, failure_limit, false),
};
const size_t anvil_auth_nspecs = ARRAY_LEN(anvil_auth_specs);

const struct attr_spec anvil_auth_failure_specs[] = {
    SPEC_STR(anvil_request, request, true),
    SPEC_STR(anvil_request, service, true),
    SPEC_STR(anvil_request, addr, true),
    SPEC_INT(anvil_request, failure_limit, false),
};
const size_t anvil_auth_failure_nspecs = ARRAY_LEN(anvil_auth_failure_specs);

/* lookup takes the same attributes as disconnect. */
const struct attr_spec anvil_lookup_specs[] = {
    SPEC_STR(anvil_request, request, true),
    SPEC_STR(anvil_request, service, true),
    SPEC_STR(anvil_request, addr, true),
};
const size_t anvil_lookup_nspecs = ARRAY_LEN(anvil_lookup_specs);

const struct attr_spec anvil_reply_specs[] = {
    SPEC_STR(anvil_reply, status, true),
    SPEC_STR(anvil_reply, limit, false),
    SPEC_INT(anvil_reply, count, false),
    SPEC_INT(anvil_reply, rate, false),
    SPEC_INT(anvil_reply, auth_rate, false),
    SPEC_INT(anvil_reply, failures, false),
    {ATTR_REASON, ATTR_TYPE_STR, offsetof(struct anvil_reply, reason), 0,
     false},
};
const size_t anvil_reply_nspecs = ARRAY_LEN(anvil_reply_specs);

struct anvil_clnt {
	char *path;
	int timeout_ms;
	int fd;
	struct strbuf in;
	struct strbuf out;
	struct attr_msg *msg;
};

/* anvil_clnt_create - a client of the anvil socket at path */
struct anvil_clnt *anvil_clnt_create(const char *path, int timeout_ms)
{
	struct anvil_clnt *c = xcalloc(1, sizeof(*c));

	c->path = xstrdup(path);
	c->timeout_ms = timeout_ms;
	c->fd = -1;
	strbuf_init(&c->in, 256);
	strbuf_init(&c->out, 256);
	c->msg = attr_msg_alloc();
	return c;
}

/* anvil_clnt_close - drop the connection */
static void anvil_clnt_close(struct anvil_clnt *c)
{
	if (c->fd >= 0)
		(void)close(c->fd);
	c->fd = -1;
	strbuf_reset(&c->in);
}

/* anvil_clnt_free - close and release */
void anvil_clnt_free(struct anvil_clnt **clntp)
{
	struct anvil_clnt *c = *clntp;

	if (c == NULL)
		return;
	anvil_clnt_close(c);
	free(c->path);
	strbuf_release(&c->in);
	strbuf_release(&c->out);
	attr_msg_free(&c->msg);
	free(c);
	*clntp = NULL;
}

/* anvil_fail - close, fill res with the reason, return ANVIL_STAT_FAIL */
static enum anvil_stat anvil_fail(struct anvil_clnt *c, const char *what,
				  const char *detail, struct anvil_result *res)
{
	anvil_clnt_close(c);
	res->status = ANVIL_STAT_FAIL;
	snprintf(res->reason, sizeof(res->reason), "anvil %s: %s: %s", c->path,
		 what, detail);
	return ANVIL_STAT_FAIL;
}

/* anvil_call - send c->out, read and decode the reply into res */
static enum anvil_stat anvil_call(struct anvil_clnt *c,
				  struct anvil_result *res)
{
	struct anvil_reply reply;
	const char *detail = NULL;

	memset(res, 0, sizeof(*res));
	if (c->fd < 0) {
		c->fd = ipc_connect_unix(c->path, c->timeout_ms);
		if (c->fd < 0)
			return anvil_fail(c, "connect",
					  errno == ETIMEDOUT ? "connect timeout"
							     : strerror(errno),
					  res);
		strbuf_reset(&c->in);
		if (attr_expect_hello(c->fd, &c->in, ANVIL_PROTOCOL,
				      ANVIL_VERSION, c->timeout_ms,
				      &detail) < 0)
			return anvil_fail(c, "hello", detail, res);
	}
	if (attr_write(c->fd, &c->out, c->timeout_ms) < 0)
		return anvil_fail(c, "write",
				  errno == ETIMEDOUT ? "write timeout"
						     : strerror(errno),
				  res);
	if (attr_read(c->fd, &c->in, c->msg, c->timeout_ms, &detail) < 0)
		return anvil_fail(c, "read", detail, res);
	memset(&reply, 0, sizeof(reply));
	if (attr_scan(c->msg, anvil_reply_specs, anvil_reply_nspecs, &reply,
		      &detail) < 0)
		return anvil_fail(c, "reply", detail, res);
	res->count = reply.count;
	res->rate = reply.rate;
	res->auth_rate = reply.auth_rate;
	res->failures = reply.failures;
	snprintf(res->limit, sizeof(res->limit), "%s",
		 reply.limit ? reply.limit : "");
	if (strcmp(reply.status, ANVIL_STATUS_OK) == 0)
		res->status = ANVIL_STAT_OK;
	else if (strcmp(reply.status, ANVIL_STATUS_LIMIT) == 0)
		res->status = ANVIL_STAT_LIMIT;
	else if (strcmp(reply.status, ANVIL_STATUS_NOKEY) == 0)
		res->status = ANVIL_STAT_NOKEY;
	else
		return anvil_fail(c, "reply",
				  reply.reason ? reply.reason : reply.status,
				  res);
	return res->status;
}

/* anvil_start - begin a request: request, service and addr */
static void anvil_start(struct anvil_clnt *c, const char *request,
			const char *service, const char *addr)
{
	strbuf_reset(&c->out);
	attr_put_str(&c->out, ATTR_REQUEST, request);
	attr_put_str(&c->out, "service", service);
	attr_put_str(&c->out, "addr", addr);
}

/* anvil_put_limit - a limit attribute, omitted when 0 (no limit) */
static void anvil_put_limit(struct anvil_clnt *c, const char *name,
			    long long value)
{
	if (value > 0)
		attr_put_int(&c->out, name, value);
}

/* anvil_clnt_connect - register a new connection from addr */
enum anvil_stat anvil_clnt_connect(struct anvil_clnt *c, const char *service,
				   const char *addr, long long count_limit,
				   long long rate_limit,
				   struct anvil_result *res)
{
	anvil_start(c, ANVIL_REQ_CONNECT, service, addr);
	anvil_put_limit(c, "count_limit", count_limit);
	anvil_put_limit(c, "rate_limit", rate_limit);
	attr_put_end(&c->out);
	return anvil_call(c, res);
}

/* anvil_clnt_disconnect - the connection from addr has ended */
enum anvil_stat anvil_clnt_disconnect(struct anvil_clnt *c, const char *service,
				      const char *addr,
				      struct anvil_result *res)
{
	if (c->fd < 0) {
		/* Nothing was registered on this connection. */
		memset(res, 0, sizeof(*res));
		res->status = ANVIL_STAT_NOKEY;
		return res->status;
	}
	anvil_start(c, ANVIL_REQ_DISCONNECT, service, addr);
	attr_put_end(&c->out);
	return anvil_call(c, res);
}

/* anvil_clnt_auth - one more AUTH command from addr */
enum anvil_stat anvil_clnt_auth(struct anvil_clnt *c, const char *service,
				const char *addr, long long rate_limit,
				long long failure_limit,
				struct anvil_result *res)
{
	anvil_start(c, ANVIL_REQ_AUTH, service, addr);
	anvil_put_limit(c, "rate_limit", rate_limit);
	anvil_put_limit(c, "failure_limit", failure_limit);
	attr_put_end(&c->out);
	return anvil_call(c, res);
}

/* anvil_clnt_auth_failure - one more failed AUTH from addr */
enum anvil_stat anvil_clnt_auth_failure(struct anvil_clnt *c,
					const char *service, const char *addr,
					long long failure_limit,
					struct anvil_result *res)
{
	anvil_start(c, ANVIL_REQ_AUTH_FAILURE, service, addr);
	anvil_put_limit(c, "failure_limit", failure_limit);
	attr_put_end(&c->out);
	return anvil_call(c, res);
}
