/*
 * NAME
 *	proto_deliver - the `deliver` request and reply, both sides
 * SYNOPSIS
 *	see proto_deliver.h
 * DESCRIPTION
 *	The attributes of the `deliver` protocol (docs/ipc.md) are encoded
 *	and decoded here once, for qmgr and for every delivery agent.
 *	Recipient attributes carry their index in the name (rcpt_0,
 *	dsn_3), so decoding does not use attr_scan()'s fixed tables but is
 *	just as strict: every attribute must be known, appear once, and
 *	indexes must be canonical decimals below nrcpt; every required one
 *	must be present.
 *
 *	The queue file descriptor travels with the request's first bytes:
 *	deliver_request_send() passes it with the first sendmsg() and
 *	writes the rest plainly; deliver_request_read() collects it from
 *	whichever recvmsg() carries it. A second descriptor is an error.
 * DIAGNOSTICS
 *	Nothing is logged here; errors come back through *error_r or
 *	errno.
 * SEE ALSO
 *	docs/ipc.md, lib/attr.h, lib/ipc.h
 */
#include "sys_defs.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <unistd.h>

#include "attr.h"
#include "ipc.h"
#include "proto_deliver.h"
#include "strbuf.h"
#include "xalloc.h"

#define DELIVER_MSG_MAX (ATTR_VALUE_MAX + ATTR_COUNT_MAX * 128)
#define DELIVER_READ_CHUNK 65536

/* deliver_request_init - an empty request without a descriptor */
void deliver_request_init(struct deliver_request *req)
{
	memset(req, 0, sizeof(*req));
	req->fd = -1;
}

/* deliver_request_release - free every string, close the descriptor */
void deliver_request_release(struct deliver_request *req)
{
	size_t i;

	free(req->queue_id);
	free(req->sender);
	free(req->relay);
	for (i = 0; i < req->nrcpt; i++) {
		free(req->rcpt[i].address);
		free(req->rcpt[i].orcpt);
		free(req->rcpt[i].reason);
	}
	if (req->fd >= 0)
		(void)close(req->fd);
	deliver_request_init(req);
}

/* deliver_request_add_rcpt - append a recipient: 0, or -1 when full */
int deliver_request_add_rcpt(struct deliver_request *req, const char *address,
			     const char *orcpt)
{
	struct deliver_rcpt *r;

	if (req->nrcpt >= DELIVER_RCPT_MAX)
		return -1;
	r = &req->rcpt[req->nrcpt++];
	memset(r, 0, sizeof(*r));
	r->address = xstrdup(address);
	r->orcpt = xstrdup(orcpt ? orcpt : "");
	r->status = DELIVER_DEFER;
	return 0;
}

/* deliver_dsn_valid - "class.subject.detail" as RFC 3463 spells it */
bool deliver_dsn_valid(const char *dsn)
{
	const char *p = dsn;
	int part, digits;

	if (dsn == NULL || (p[0] != '2' && p[0] != '4' && p[0] != '5') ||
	    p[1] != '.')
		return false;
	p += 2;
	for (part = 0; part < 2; part++) {
		for (digits = 0; *p >= '0' && *p <= '9'; p++)
			digits++;
		if (digits < 1 || digits > 3)
			return false;
		if (part == 0 && *p++ != '.')
			return false;
	}
	return *p == '\0';
}

/* deliver_set_result - record one recipient's outcome */
void deliver_set_result(struct deliver_rcpt *rcpt, enum deliver_status st,
			const char *dsn, const char *fmt, ...)
{
	struct strbuf *sb = strbuf_alloc(128);
	va_list ap;

	rcpt->status = st;
	if (!deliver_dsn_valid(dsn))
		dsn = st == DELIVER_OK       ? "2.0.0"
		      : st == DELIVER_BOUNCE ? "5.0.0"
					     : "4.0.0";
	snprintf(rcpt->dsn, sizeof(rcpt->dsn), "%s", dsn);
	strbuf_set_max(sb, DELIVER_REASON_MAX);
	va_start(ap, fmt);
	(void)strbuf_vprintf_append(sb, fmt, ap);
	va_end(ap);
	free(rcpt->reason);
	rcpt->reason = strbuf_export(sb);
	strbuf_free(&sb);
}

/* deliver_status_name - "ok", "defer" or "bounce" */
const char *deliver_status_name(enum deliver_status st)
{
	switch (st) {
	case DELIVER_OK:
		return "ok";
	case DELIVER_BOUNCE:
		return "bounce";
	case DELIVER_DEFER:
		break;
	}
	return "defer";
}

/* deliver_status_parse - the inverse of deliver_status_name */
int deliver_status_parse(const char *name, enum deliver_status *st_r)
{
	if (strcmp(name, "ok") == 0)
		*st_r = DELIVER_OK;
	else if (strcmp(name, "defer") == 0)
		*st_r = DELIVER_DEFER;
	else if (strcmp(name, "bounce") == 0)
		*st_r = DELIVER_BOUNCE;
	else
		return -1;
	return 0;
}

/* deliver_put_indexed - append NAME_N=value */
static void deliver_put_indexed(struct strbuf *out, const char *name, size_t n,
				const char *value)
{
	char attr[ATTR_NAME_MAX + 1];

	snprintf(attr, sizeof(attr), "%s_%zu", name, n);
	attr_put_str(out, attr, value);
}

/* deliver_request_encode - append the request message */
void deliver_request_encode(const struct deliver_request *req,
			    struct strbuf *out)
{
	size_t i;

	attr_put_str(out, ATTR_REQUEST, "deliver");
	attr_put_str(out, DELIVER_ATTR_QUEUE_ID, req->queue_id);
	attr_put_str(out, DELIVER_ATTR_SENDER, req->sender);
	attr_put_int(out, DELIVER_ATTR_OFFSET, req->content_offset);
	attr_put_int(out, DELIVER_ATTR_LENGTH, req->content_length);
	attr_put_int(out, DELIVER_ATTR_ARRIVAL, req->arrival);
	attr_put_int(out, DELIVER_ATTR_NRCPT, (long long)req->nrcpt);
	for (i = 0; i < req->nrcpt; i++) {
		deliver_put_indexed(out, "rcpt", i, req->rcpt[i].address);
		if (req->rcpt[i].orcpt && *req->rcpt[i].orcpt)
			deliver_put_indexed(out, "orcpt", i,
					    req->rcpt[i].orcpt);
	}
	attr_put_end(out);
}

/* deliver_reply_encode - append the reply message */
void deliver_reply_encode(const struct deliver_request *req, struct strbuf *out)
{
	const struct deliver_rcpt *r;
	size_t i;

	attr_put_str(out, ATTR_STATUS, "ok");
	attr_put_str(out, DELIVER_ATTR_RELAY, req->relay ? req->relay : "");
	for (i = 0; i < req->nrcpt; i++) {
		r = &req->rcpt[i];
		deliver_put_indexed(out, "result", i,
				    deliver_status_name(r->status));
		deliver_put_indexed(out, "dsn", i,
				    deliver_dsn_valid(r->dsn) ? r->dsn
							      : "4.0.0");
		deliver_put_indexed(out, "reason", i,
				    r->reason ? r->reason : "");
	}
	attr_put_end(out);
}

/* deliver_parse_index - "N" after a known prefix: 0, or -1 if invalid */
static int deliver_parse_index(const char *name, const char *prefix,
			       size_t *n_r)
{
	size_t plen = strlen(prefix);
	const char *p;
	size_t n = 0;

	if (strncmp(name, prefix, plen) != 0 || name[plen] != '_')
		return -1;
	p = name + plen + 1;
	if (*p == '\0' || (*p == '0' && p[1] != '\0') || strlen(p) > 4)
		return -1;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		n = n * 10 + (size_t)(*p - '0');
	}
	*n_r = n;
	return 0;
}

/* deliver_parse_ll - a strict decimal integer attribute value */
static int deliver_parse_ll(const struct attr *a, long long min,
			    long long *val_r)
{
	char *end;
	long long v;

	if (a->len == 0 || a->len > 20 || memchr(a->value, '\0', a->len) ||
	    !((a->value[0] >= '0' && a->value[0] <= '9') || a->value[0] == '-'))
		return -1;
	errno = 0;
	v = strtoll(a->value, &end, 10);
	if (errno != 0 || end != a->value + a->len || v < min)
		return -1;
	*val_r = v;
	return 0;
}

/* deliver_text_ok - a string value without NUL or control characters */
static bool deliver_text_ok(const struct attr *a)
{
	size_t i;

	for (i = 0; i < a->len; i++) {
		unsigned char c = (unsigned char)a->value[i];

		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

/* deliver_request_parse - a decoded message into req (already empty) */
static int deliver_request_parse(const struct attr_msg *msg,
				 struct deliver_request *req,
				 const char **error_r)
{
	const struct attr *rcpt[DELIVER_RCPT_MAX] = {NULL};
	const struct attr *orcpt[DELIVER_RCPT_MAX] = {NULL};
	const struct attr *fixed[7] = {NULL};
	static const char *const names[7] = {
	    ATTR_REQUEST,        DELIVER_ATTR_QUEUE_ID, DELIVER_ATTR_SENDER,
	    DELIVER_ATTR_OFFSET, DELIVER_ATTR_LENGTH,   DELIVER_ATTR_ARRIVAL,
	    DELIVER_ATTR_NRCPT,
	};
	long long nrcpt;
	size_t i, j, n;

	for (i = 0; i < msg->count; i++) {
		const struct attr *a = &msg->items[i];
		const struct attr **slot = NULL;

		for (j = 0; j < ARRAY_LEN(names); j++)
			if (strcmp(a->name, names[j]) == 0)
				slot = &fixed[j];
		if (slot == NULL &&
		    deliver_parse_index(a->name, "rcpt", &n) == 0)
			slot = n < DELIVER_RCPT_MAX ? &rcpt[n] : NULL;
		else if (slot == NULL &&
			 deliver_parse_index(a->name, "orcpt", &n) == 0)
			slot = n < DELIVER_RCPT_MAX ? &orcpt[n] : NULL;
		if (slot == NULL) {
			*error_r = "unexpected attribute";
			return -1;
		}
		if (*slot != NULL) {
			*error_r = "duplicate attribute";
			return -1;
		}
		if (!deliver_text_ok(a)) {
			*error_r = "control character in an attribute";
			return -1;
		}
		*slot = a;
	}
	for (j = 0; j < ARRAY_LEN(names); j++) {
		if (fixed[j] == NULL) {
			*error_r = "missing required attribute";
			return -1;
		}
	}
	if (strcmp(fixed[0]->value, "deliver") != 0) {
		*error_r = "unknown request";
		return -1;
	}
	if (fixed[1]->len == 0) {
		*error_r = "empty queue_id";
		return -1;
	}
	if (deliver_parse_ll(fixed[3], 0, &req->content_offset) < 0 ||
	    deliver_parse_ll(fixed[4], 0, &req->content_length) < 0 ||
	    deliver_parse_ll(fixed[5], 0, &req->arrival) < 0 ||
	    deliver_parse_ll(fixed[6], 1, &nrcpt) < 0 ||
	    nrcpt > DELIVER_RCPT_MAX) {
		*error_r = "malformed integer attribute";
		return -1;
	}
	for (i = 0; i < DELIVER_RCPT_MAX; i++) {
		if ((i < (size_t)nrcpt &&
		     (rcpt[i] == NULL || rcpt[i]->len == 0)) ||
		    (i >= (size_t)nrcpt && (rcpt[i] || orcpt[i]))) {
			*error_r = "recipients do not match nrcpt";
			return -1;
		}
	}
	req->queue_id = xstrdup(fixed[1]->value);
	req->sender = xstrdup(fixed[2]->value);
	for (i = 0; i < (size_t)nrcpt; i++)
		(void)deliver_request_add_rcpt(req, rcpt[i]->value,
					       orcpt[i] ? orcpt[i]->value : "");
	return 0;
}

/* deliver_recv_some - append readable bytes, collecting a descriptor */
static int deliver_recv_some(int sock, struct strbuf *in, int *fd_r,
			     int timeout_ms, const char **error_r)
{
	ssize_t n;
	int fd;
	int r;

	if (in->len >= DELIVER_MSG_MAX) {
		*error_r = "message too large";
		return -1;
	}
	if (strbuf_reserve(in, DELIVER_READ_CHUNK) < 0) {
		*error_r = "message too large";
		return -1;
	}
	r = ipc_wait(sock, POLLIN, timeout_ms);
	if (r <= 0) {
		*error_r = r == 0 ? "read timeout" : "read error";
		return -1;
	}
	n = ipc_recv_fd(sock, &fd, in->data + in->len, DELIVER_READ_CHUNK);
	if (n < 0) {
		*error_r = errno == EMSGSIZE ? "descriptor refused (truncated)"
					     : "read error";
		return -1;
	}
	if (fd >= 0) {
		if (*fd_r >= 0) {
			(void)close(fd);
			*error_r = "more than one descriptor";
			return -1;
		}
		*fd_r = fd;
	}
	if (n == 0)
		return 0;
	in->len += (size_t)n;
	in->data[in->len] = '\0';
	return 1;
}

/* deliver_request_read - read one request and its descriptor */
int deliver_request_read(int sock, struct strbuf *inbuf,
			 struct deliver_request *req, int timeout_ms,
			 const char **error_r)
{
	struct attr_msg *msg = attr_msg_alloc();
	size_t used;
	int ret = -1;
	int r;

	deliver_request_release(req);
	for (;;) {
		if (inbuf->len > 0) {
			r = attr_decode(inbuf->data, inbuf->len, msg, &used,
					error_r);
			if (r < 0)
				goto out;
			if (r > 0) {
				strbuf_consume(inbuf, used);
				break;
			}
		}
		r = deliver_recv_some(sock, inbuf, &req->fd, timeout_ms,
				      error_r);
		if (r < 0)
			goto out;
		if (r == 0) {
			if (inbuf->len == 0 && req->fd < 0) {
				ret = 0;
				goto out;
			}
			*error_r = "connection closed mid-request";
			goto out;
		}
	}
	if (deliver_request_parse(msg, req, error_r) < 0)
		goto out;
	if (req->fd < 0) {
		*error_r = "request without a queue file descriptor";
		goto out;
	}
	ret = 1;
out:
	attr_msg_free(&msg);
	if (ret != 1)
		deliver_request_release(req);
	return ret;
}

/* deliver_request_send - send the request with the queue file attached */
int deliver_request_send(int sock, const struct deliver_request *req,
			 int timeout_ms)
{
	struct strbuf *out = strbuf_alloc(1024);
	struct msghdr msg;
	struct iovec iov;

	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct cmsghdr *cmsg;
	ssize_t n;
	int ret = -1;
	int r;

	deliver_request_encode(req, out);
	memset(&msg, 0, sizeof(msg));
	memset(&control, 0, sizeof(control));
	iov.iov_base = out->data;
	iov.iov_len = out->len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (req->fd >= 0) {
		msg.msg_control = control.buf;
		msg.msg_controllen = sizeof(control.buf);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cmsg), &req->fd, sizeof(int));
	}
	/* Send first and wait only when the socket is full (ipc_write_all()
	 * does the same). */
	for (;;) {
		n = sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n >= 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			goto out;
		r = ipc_wait(sock, POLLOUT, timeout_ms);
		if (r <= 0) {
			if (r == 0)
				errno = ETIMEDOUT;
			goto out;
		}
	}
	/* The descriptor went with the first bytes; the rest is plain. */
	ret = ipc_write_all(sock, out->data + n, out->len - (size_t)n,
			    timeout_ms);
out:
	strbuf_free(&out);
	return ret;
}

/* deliver_reply_parse - a decoded reply's results into req */
static int deliver_reply_parse(const struct attr_msg *msg,
			       struct deliver_request *req,
			       const char **error_r)
{
	bool seen[3][DELIVER_RCPT_MAX] = {{false}};
	static const char *const kinds[3] = {"result", "dsn", "reason"};
	const char *status = attr_get_str(msg, ATTR_STATUS);
	bool seen_relay = false;
	size_t i, k, n;

	if (status == NULL) {
		*error_r = "reply without status";
		return -1;
	}
	if (strcmp(status, "ok") != 0) {
		*error_r = "delivery agent refused the request";
		return -1;
	}
	for (i = 0; i < msg->count; i++) {
		const struct attr *a = &msg->items[i];
		struct deliver_rcpt *r;

		if (strcmp(a->name, ATTR_STATUS) == 0)
			continue;
		if (strcmp(a->name, DELIVER_ATTR_RELAY) == 0) {
			if (seen_relay || !deliver_text_ok(a))
				goto bad;
			seen_relay = true;
			free(req->relay);
			req->relay = xstrdup(a->value);
			continue;
		}
		for (k = 0; k < 3; k++)
			if (deliver_parse_index(a->name, kinds[k], &n) == 0)
				break;
		if (k == 3 || n >= req->nrcpt || seen[k][n] ||
		    !deliver_text_ok(a))
			goto bad;
		seen[k][n] = true;
		r = &req->rcpt[n];
		if (k == 0 && deliver_status_parse(a->value, &r->status) < 0)
			goto bad;
		if (k == 1) {
			if (!deliver_dsn_valid(a->value))
				goto bad;
			snprintf(r->dsn, sizeof(r->dsn), "%s", a->value);
		}
		if (k == 2) {
			free(r->reason);
			r->reason = xstrdup(a->value);
		}
	}
	for (n = 0; n < req->nrcpt; n++) {
		if (!seen[0][n] || !seen[1][n]) {
			*error_r = "reply lacks a recipient's result";
			return -1;
		}
		if (!seen[2][n]) {
			free(req->rcpt[n].reason);
			req->rcpt[n].reason = xstrdup("");
		}
	}
	return 0;
bad:
	*error_r = "malformed reply attribute";
	return -1;
}

/* deliver_reply_read - read the agent's reply into req */
int deliver_reply_read(int sock, struct strbuf *inbuf,
		       struct deliver_request *req, int timeout_ms,
		       const char **error_r)
{
	struct attr_msg *msg = attr_msg_alloc();
	int ret = -1;

	if (attr_read(sock, inbuf, msg, timeout_ms, error_r) == 0)
		ret = deliver_reply_parse(msg, req, error_r);
	attr_msg_free(&msg);
	return ret;
}

/* deliver_reply_send - send the per-recipient results */
int deliver_reply_send(int sock, const struct deliver_request *req,
		       int timeout_ms)
{
	struct strbuf *out = strbuf_alloc(512);
	int ret;

	deliver_reply_encode(req, out);
	ret = attr_write(sock, out, timeout_ms);
	strbuf_free(&out);
	return ret;
}

/* deliver_reply_refuse - refuse a whole request (status bad or retry) */
int deliver_reply_refuse(int sock, const char *status, const char *reason,
			 int timeout_ms)
{
	struct strbuf *out = strbuf_alloc(128);
	int ret;

	attr_put_str(out, ATTR_STATUS, status);
	attr_put_str(out, ATTR_REASON, reason);
	attr_put_end(out);
	ret = attr_write(sock, out, timeout_ms);
	strbuf_free(&out);
	return ret;
}
