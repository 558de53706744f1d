/*
 * NAME
 *	bounce_service - qmgr's bounce requests, notifications to cleanup
 * SYNOPSIS
 *	void bounce_serve(struct server *srv, int fd);
 * DESCRIPTION
 *	Protocol `bounce`, version 1 (docs/qmgr.md). qmgr sends
 *	request=bounce, queue_id, action (failed|delayed), nrcpt, and for
 *	each N index_N, dsn_N, reason_N, relay_N, with the queue file's
 *	descriptor attached. The service validates the queue file itself
 *	(qfile_read(): it trusts qmgr no more than any peer), builds the
 *	notification (bounce_dsn.c) and submits it to cleanup with the
 *	null sender and the original sender as the only recipient, so a
 *	notification can never cause another one. The reply is status=ok
 *	with queue_id of the notification, once cleanup has it on disk,
 *	else status=retry with reason (qmgr tries again later).
 *
 *	A message from the null sender gets no notification: the request
 *	is answered ok without queue_id (qmgr normally never asks).
 * DIAGNOSTICS
 *	Malformed requests: log_warn() and status=bad.
 * SEE ALSO
 *	bounce_dsn.c, lib/proto_cleanup.h, daemons/qmgr
 */
#include "sys_defs.h"

#include <errno.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "attr.h"
#include "cfg.h"
#include "ipc.h"
#include "log.h"
#include "params.h"
#include "proto_cleanup.h"
#include "server.h"
#include "strbuf.h"
#include "xalloc.h"
#include "bounce.h"

/* bounce_reply - status (and queue_id or reason) */
static void bounce_reply(int fd, const char *status, const char *key,
			 const char *value, int timeout)
{
	struct strbuf *out = strbuf_alloc(128);

	attr_put_str(out, ATTR_STATUS, status);
	if (key != NULL)
		attr_put_str(out, key, value);
	attr_put_end(out);
	(void)attr_write(fd, out, timeout);
	strbuf_free(&out);
}

/* bounce_read_request - one request and its descriptor: 0 or -1 */
static int bounce_read_request(int sock, struct strbuf *in,
			       struct attr_msg *msg, int *fd_r, int timeout,
			       const char **error_r)
{
	char buf[8192];
	size_t used;
	ssize_t n;
	int r, fd;

	*fd_r = -1;
	for (;;) {
		r = attr_decode(in->data, in->len, msg, &used, error_r);
		if (r < 0)
			return -1;
		if (r > 0) {
			strbuf_consume(in, used);
			return *fd_r >= 0 ? 0
					  : (*error_r = "no descriptor", -1);
		}
		if (in->len > ATTR_VALUE_MAX) {
			*error_r = "request too large";
			return -1;
		}
		if (ipc_wait(sock, POLLIN, timeout) <= 0) {
			*error_r = "read timeout";
			return -1;
		}
		n = ipc_recv_fd(sock, &fd, buf, sizeof(buf));
		if (fd >= 0) {
			if (*fd_r >= 0)
				(void)close(*fd_r);
			*fd_r = fd;
		}
		if (n <= 0) {
			*error_r = n == 0 ? "connection closed" : "read error";
			return -1;
		}
		(void)strbuf_catn(in, buf, (size_t)n);
	}
}

/* bounce_parse - the recipients of a request: count or -1 */
static int bounce_parse(const struct attr_msg *msg, const struct qfile_msg *q,
			struct bounce_rcpt *rcpt, const char **error_r)
{
	const char *s = attr_get_str(msg, "nrcpt");
	char name[32];
	long long n, i, idx;

	if (s == NULL ||
	    cfg_parse_int(s, 1, BOUNCE_RCPT_MAX, &n, error_r) < 0) {
		*error_r = "bad nrcpt";
		return -1;
	}
	for (i = 0; i < n; i++) {
		struct bounce_rcpt *r = &rcpt[i];

		(void)snprintf(name, sizeof(name), "index_%lld", i);
		s = attr_get_str(msg, name);
		if (s == NULL || cfg_parse_int(s, 0, (long long)q->nrcpt - 1,
					       &idx, error_r) < 0) {
			*error_r = "bad recipient index";
			return -1;
		}
		r->index = (size_t)idx;
		(void)snprintf(name, sizeof(name), "dsn_%lld", i);
		r->dsn = attr_get_str(msg, name);
		(void)snprintf(name, sizeof(name), "reason_%lld", i);
		r->reason = attr_get_str(msg, name);
		(void)snprintf(name, sizeof(name), "relay_%lld", i);
		r->relay = attr_get_str(msg, name);
		if (r->dsn == NULL || r->reason == NULL) {
			*error_r = "recipient without dsn or reason";
			return -1;
		}
	}
	return (int)n;
}

/* bounce_submit - hand the notification to cleanup: 0 or -1 (why) */
static int bounce_submit(struct server *srv, const char *to,
			 const struct strbuf *text, char *id, size_t idsize,
			 struct strbuf *why)
{
	struct cleanup_open_info info;
	struct cleanup_result res;
	struct cleanup_clnt *c;
	char *path = xasprintf("%s/private/cleanup", srv->cfg.queue_directory);
	int timeout = (int)srv->cfg.ipc_timeout * 1000;

	memset(&info, 0, sizeof(info));
	info.origin = "bounce";
	info.submit_uid = -1;
	c = cleanup_clnt_open(path, CLEANUP_PROTOCOL, timeout, &info, &res);
	free(path);
	if (c == NULL) {
		(void)strbuf_printf(why, "cleanup: %s", res.reason);
		return -1;
	}
	(void)cleanup_clnt_envelope(c, "", "HDRS", NULL, "8BITMIME", false);
	(void)cleanup_clnt_rcpt(c, to, NULL, "NEVER");
	(void)cleanup_clnt_data(c, text->data, text->len);
	if (cleanup_clnt_end(c, &res) != CLEANUP_STAT_OK) {
		(void)strbuf_printf(why, "cleanup: %s", res.reason);
		cleanup_clnt_free(&c);
		return -1;
	}
	(void)snprintf(id, idsize, "%s", res.queue_id);
	cleanup_clnt_free(&c);
	return 0;
}

/* bounce_request - build and submit one notification */
static void bounce_request(struct server *srv, int sock, int qfd,
			   const struct attr_msg *msg, int timeout)
{
	struct qfile_msg q;
	struct bounce_rcpt rcpt[BOUNCE_RCPT_MAX];
	struct bounce_info info;
	struct strbuf *content = strbuf_alloc(4096);
	struct strbuf *text = strbuf_alloc(8192);
	struct strbuf *why = strbuf_alloc(128);
	const char *error = NULL, *action = attr_get_str(msg, "action");
	const char *req = attr_get_str(msg, ATTR_REQUEST);
	char id[QID_SIZE] = "", boundary[64];
	int n;

	memset(&q, 0, sizeof(q));
	if (req == NULL || strcmp(req, "bounce") != 0 || action == NULL ||
	    (strcmp(action, "failed") != 0 && strcmp(action, "delayed") != 0)) {
		log_warn("bounce request: bad request or action");
		bounce_reply(sock, "bad", ATTR_REASON, "bad request", timeout);
		goto out;
	}
	if (qfile_read(qfd, &q, &error) < 0 ||
	    qfile_read_content(qfd, &q, content, &error) < 0) {
		log_warn("bounce request: queue file: %s", error);
		bounce_reply(sock, "retry", ATTR_REASON, error, timeout);
		goto out;
	}
	n = bounce_parse(msg, &q, rcpt, &error);
	if (n < 0) {
		log_warn("%s: bounce request: %s", q.queue_id, error);
		bounce_reply(sock, "bad", ATTR_REASON, error, timeout);
		goto out;
	}
	if (q.sender[0] == '\0') {
		log_info("%s: no notification for the null sender", q.queue_id);
		bounce_reply(sock, "ok", NULL, NULL, timeout);
		goto out;
	}
	(void)snprintf(boundary, sizeof(boundary), "%s.%lld/%s", q.queue_id,
		       (long long)time(NULL), srv->cfg.myhostname);
	memset(&info, 0, sizeof(info));
	info.msg = &q;
	info.content = content->data;
	info.content_len = content->len;
	info.hostname = srv->cfg.myhostname;
	info.action = action;
	info.rcpt = rcpt;
	info.nrcpt = (size_t)n;
	info.now = (long long)time(NULL);
	info.boundary = boundary;
	bounce_build(&info, text);
	if (bounce_submit(srv, q.sender, text, id, sizeof(id), why) < 0) {
		log_warn("%s: sender %s notification: %s", q.queue_id,
			 strcmp(action, "delayed") == 0 ? "delay"
							: "non-delivery",
			 why->data);
		bounce_reply(sock, "retry", ATTR_REASON, why->data, timeout);
		goto out;
	}
	bounce_reply(sock, "ok", "queue_id", id, timeout);
out:
	qfile_msg_release(&q);
	strbuf_free(&content);
	strbuf_free(&text);
	strbuf_free(&why);
}

/* bounce_serve - one qmgr connection */
void bounce_serve(struct server *srv, int fd)
{
	struct strbuf *in = strbuf_alloc(4096);
	struct attr_msg *msg = attr_msg_alloc();
	int timeout = (int)srv->cfg.ipc_timeout * 1000;
	const char *error = NULL;
	int qfd;

	if (attr_send_hello(fd, BOUNCE_PROTOCOL, BOUNCE_VERSION) < 0)
		goto out;
	for (;;) {
		if (bounce_read_request(fd, in, msg, &qfd, timeout, &error) <
		    0) {
			if (qfd >= 0)
				(void)close(qfd);
			if (strcmp(error, "connection closed") != 0 ||
			    in->len > 0) {
				log_warn("bounce request: %s", error);
				bounce_reply(fd, "bad", ATTR_REASON, error,
					     timeout);
			}
			break;
		}
		bounce_request(srv, fd, qfd, msg, timeout);
		(void)close(qfd);
	}
out:
	attr_msg_free(&msg);
	strbuf_free(&in);
}
