/*
 * NAME
 *	qmgr_ctl - requests to the queue manager on private/qmgr
 * SYNOPSIS
 *	see qmgr.h
 * DESCRIPTION
 *	Each client gets the greeting protocol=qmgr, version=1, then may
 *	send any number of requests (docs/ipc.md, docs/qmgr.md):
 *
 *	  wakeup [queue_id]   incoming/ has news (cleanup); no reply
 *	  flush [queue_id]    deferred mail (or one message) due now
 *	  delete queue_id     remove a message, or every one for ALL
 *	  hold queue_id       stop delivering a message (hold/)
 *	  release queue_id    back from hold/, due now
 *
 *	Replies are status=ok (delete adds count=N), status=nokey when the
 *	message is not in the queue, status=bad for a malformed request
 *	(after which the connection is closed). Clients are served from
 *	the event loop with non-blocking reads; replies are a few bytes
 *	and written at once.
 *
 *	cleanup keeps its connection open between messages. When qmgr
 *	winds down (SIGHUP: a reload retired it) it closes at once every
 *	client that has sent wakeups and has no request pending, so that
 *	the old qmgr exits and its successor takes over the queue without
 *	waiting for the cleanup processes to go; their next wakeup finds
 *	the connection closed and connects to the successor.
 * DIAGNOSTICS
 *	A malformed request is logged with log_warn().
 * SEE ALSO
 *	admin/admin_queue.c, docs/qmgr.md
 */
#include "sys_defs.h"

#include <errno.h>
#include <unistd.h>
#include <sys/socket.h>

#include "attr.h"
#include "event.h"
#include "ipc.h"
#include "log.h"
#include "server.h"
#include "strbuf.h"
#include "xalloc.h"
#include "qmgr.h"

#define QMGR_CTL_MAX 65536 /* bytes buffered per client */

struct qmgr_client {
	struct qmgr_client *prev, *next; /* qmgr_ctl_clients */
	struct server *srv;
	int fd;
	struct strbuf *in;
	struct attr_msg *msg;
	bool waker; /* has sent a wakeup */
};

static struct qmgr_client *qmgr_ctl_clients;

struct qmgr_ctl_req {
	const char *request;
	const char *queue_id;
};

static const struct attr_spec qmgr_ctl_spec[] = {
    {ATTR_REQUEST, ATTR_TYPE_STR, offsetof(struct qmgr_ctl_req, request), 0,
     true},
    {"queue_id", ATTR_TYPE_STR, offsetof(struct qmgr_ctl_req, queue_id), 0,
     false},
};

/* qmgr_ctl_close - forget a client */
static void qmgr_ctl_close(struct qmgr_client *c)
{
	struct server *srv = c->srv;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		qmgr_ctl_clients = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	ev_fd_del(srv->loop, c->fd);
	(void)close(c->fd);
	strbuf_free(&c->in);
	attr_msg_free(&c->msg);
	free(c);
	server_client_done(srv);
}

/* qmgr_ctl_reply - a short reply (written at once) */
static int qmgr_ctl_reply(struct qmgr_client *c, const char *status,
			  long long count)
{
	struct strbuf *out = strbuf_alloc(64);
	int r;

	attr_put_str(out, ATTR_STATUS, status);
	if (count >= 0)
		attr_put_int(out, "count", count);
	attr_put_end(out);
	r = ipc_write_all(c->fd, out->data, out->len, 1000);
	strbuf_free(&out);
	return r;
}

/* qmgr_ctl_request - act on one request: 0, or -1 to close */
static int qmgr_ctl_request(struct qmgr_client *c)
{
	struct qmgr *q = c->srv->ctx;
	struct qmgr_ctl_req req = {NULL, NULL};
	const char *error = NULL;
	const char *id;
	int r;

	if (attr_scan(c->msg, qmgr_ctl_spec, ARRAY_LEN(qmgr_ctl_spec), &req,
		      &error) < 0) {
		log_warn("qmgr request: %s", error);
		(void)qmgr_ctl_reply(c, "bad", -1);
		return -1;
	}
	id = req.queue_id ? req.queue_id : "";
	if (strcmp(req.request, "wakeup") == 0) {
		c->waker = true;
		qmgr_scan_soon(q);
		return 0;
	}
	if (strcmp(req.request, "flush") == 0) {
		r = qmgr_flush(q, id);
		return qmgr_ctl_reply(c, r < 0 ? "nokey" : "ok", -1);
	}
	if (*id == '\0') {
		log_warn("qmgr request %s: no queue_id", req.request);
		(void)qmgr_ctl_reply(c, "bad", -1);
		return -1;
	}
	if (strcmp(req.request, "delete") == 0) {
		r = qmgr_delete(q, id);
		if (r < 0)
			return qmgr_ctl_reply(c, "nokey", -1);
		qmgr_dispatch(q);
		return qmgr_ctl_reply(c, "ok", r);
	}
	if (strcmp(req.request, "hold") == 0)
		return qmgr_ctl_reply(c, qmgr_hold(q, id) < 0 ? "nokey" : "ok",
				      -1);
	if (strcmp(req.request, "release") == 0)
		return qmgr_ctl_reply(
		    c, qmgr_release(q, id) < 0 ? "nokey" : "ok", -1);
	log_warn("qmgr request: unknown request \"%s\"", req.request);
	(void)qmgr_ctl_reply(c, "bad", -1);
	return -1;
}

/* qmgr_ctl_read - a client's socket is readable */
static void qmgr_ctl_read(struct ev_loop *loop, int fd, int events, void *ctx)
{
	struct qmgr_client *c = ctx;
	const char *error = NULL;
	size_t used;
	ssize_t n;
	int r;

	(void)loop;
	(void)events;
	n = ipc_read_some(fd, c->in, QMGR_CTL_MAX, 0);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
		       errno != ETIMEDOUT)) {
		qmgr_ctl_close(c);
		return;
	}
	for (;;) {
		r = attr_decode(c->in->data, c->in->len, c->msg, &used, &error);
		if (r == 0)
			return;
		if (r < 0) {
			log_warn("qmgr request: %s", error);
			(void)qmgr_ctl_reply(c, "bad", -1);
			qmgr_ctl_close(c);
			return;
		}
		strbuf_consume(c->in, used);
		if (qmgr_ctl_request(c) < 0) {
			qmgr_ctl_close(c);
			return;
		}
	}
}

/* qmgr_ctl_serve - a new client on private/qmgr */
void qmgr_ctl_serve(struct server *srv, int fd)
{
	struct qmgr_client *c = xcalloc(1, sizeof(*c));

	c->srv = srv;
	c->fd = fd;
	c->in = strbuf_alloc(256);
	c->msg = attr_msg_alloc();
	c->next = qmgr_ctl_clients;
	if (c->next != NULL)
		c->next->prev = c;
	qmgr_ctl_clients = c;
	if (attr_send_hello(fd, QMGR_PROTOCOL, QMGR_VERSION) < 0) {
		qmgr_ctl_close(c);
		return;
	}
	ev_fd_set(srv->loop, fd, EV_READ, qmgr_ctl_read, c);
}

/* qmgr_ctl_wind_down - close the idle wakeup connections (wind_down) */
void qmgr_ctl_wind_down(struct server *srv)
{
	struct qmgr_client *c = qmgr_ctl_clients, *next;

	(void)srv;
	for (; c != NULL; c = next) {
		next = c->next;
		if (c->waker && c->in->len == 0)
			qmgr_ctl_close(c);
	}
}
