/*
 * NAME
 *	qmgr_deliver - delivery and bounce jobs, without blocking the loop
 * SYNOPSIS
 *	see qmgr.h
 * DESCRIPTION
 *	A job is one request to one agent: up to DELIVER_RCPT_MAX
 *	recipients of one message for one destination (a `deliver`
 *	request to private/virtual or private/smtp), or the failed
 *	recipients of one message for the bounce daemon (a `bounce`
 *	request to private/bounce). Jobs wait in their destination's
 *	queue; qmgr_dispatch() starts them while the destination has
 *	fewer than its concurrency limit running (and the process-wide
 *	limit allows).
 *
 *	A started job connects to the agent's socket (non-blocking),
 *	waits for its greeting in the event loop, sends the request with a
 *	read-only descriptor of the queue file attached (SCM_RIGHTS), and
 *	waits for the reply in the event loop, with ipc_timeout as the
 *	deadline of the whole exchange. Nothing here waits for an agent:
 *	a slow delivery holds one connection, not the queue manager.
 *
 *	Results are written to the queue file's status area and made
 *	durable (fdatasync) before the per-recipient log lines are
 *	written, then the message learns that one of its jobs is over.
 *	The fdatasync is skipped when the job was the message's last and
 *	every recipient is now delivered or bounced: the file is removed
 *	next, and a crash before that reaches the disk can only bring the
 *	message back for a duplicate delivery, never lose it (DESIGN.md
 *	section 5); with one recipient per message this was one
 *	synchronous disk write per message.
 *	Connections to delivery agents are reused: after a deliver reply
 *	the connection is parked (both agents serve requests until qmgr
 *	closes) and the next job for that transport sends its request on
 *	it, without connect, accept, greeting and the agent's busy/idle
 *	reports to master. A connection is parked at most
 *	QMGR_CONN_IDLE ms and carries at most QMGR_CONN_USES requests,
 *	so agents still exit and pick up a reload. When a parked
 *	connection turns out closed (the send fails, or the agent hangs
 *	up without a byte of reply) the job is started again on a fresh
 *	connection: the agent may have delivered before it died, so this
 *	can repeat a delivery, as a deferral would, never lose one.
 *
 *	A connection that fails, breaks or times out defers the job's
 *	recipients ("delivery temporarily suspended"). A full listen
 *	queue (EAGAIN) puts the job back and tries again shortly.
 *
 *	Bounce request (protocol `bounce`, version 1, our own): request=
 *	bounce, queue_id, action (failed), nrcpt, and for each N index_N
 *	(the recipient's position in the queue file), dsn_N, reason_N,
 *	relay_N; the queue file descriptor is attached. Reply: status=ok
 *	with queue_id of the notification, or status=retry|fail|bad with
 *	reason. docs/qmgr.md describes it.
 * DIAGNOSTICS
 *	Agents that answer garbage are logged with log_warn() and their
 *	recipients deferred.
 * SEE ALSO
 *	lib/proto_deliver.h, docs/ipc.md, docs/qmgr.md
 */
#include "sys_defs.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "attr.h"
#include "event.h"
#include "ipc.h"
#include "log.h"
#include "params.h"
#include "strbuf.h"
#include "xalloc.h"
#include "qmgr.h"

#define QMGR_SEND_TIMEOUT 10000 /* ms to hand a request to an agent */
#define QMGR_EAGAIN_RETRY 200   /* ms before trying a full socket again */
#define QMGR_CONN_IDLE 2000     /* ms a parked agent connection is kept */
#define QMGR_CONN_USES 100      /* requests per agent connection */

static void qmgr_job_end(struct qmgr *q, struct qmgr_job *job);
static int qmgr_job_send(struct qmgr *q, struct qmgr_job *job);
static void qmgr_job_requeue(struct qmgr_job *job);

/* qmgr_conn_sweep - close parked connections idle for QMGR_CONN_IDLE */
static void qmgr_conn_sweep(struct ev_loop *loop, void *ctx)
{
	struct qmgr *q = ctx;
	struct qmgr_conn **pp = &q->idle, *c;
	double now = qmgr_now();

	(void)loop;
	q->idle_timer = 0;
	while ((c = *pp) != NULL) {
		if (now - c->since >= QMGR_CONN_IDLE / 1000.0 - 0.001) {
			*pp = c->next;
			(void)close(c->fd);
			free(c->transport);
			free(c);
		} else {
			pp = &c->next;
		}
	}
	if (q->idle != NULL)
		q->idle_timer =
		    ev_timer_add(q->loop, QMGR_CONN_IDLE, qmgr_conn_sweep, q);
}

/* qmgr_conn_park - keep a finished deliver job's connection */
static void qmgr_conn_park(struct qmgr *q, struct qmgr_job *job)
{
	struct qmgr_conn *c;

	if (job->kind != QMGR_JOB_DELIVER || job->sock < 0 ||
	    job->uses + 1 >= QMGR_CONN_USES)
		return; /* qmgr_job_end() closes it */
	c = xcalloc(1, sizeof(*c));
	c->transport = xstrdup(job->dest->transport);
	c->fd = job->sock;
	c->uses = job->uses + 1;
	c->since = qmgr_now();
	c->next = q->idle;
	q->idle = c;
	ev_fd_del(q->loop, job->sock);
	job->sock = -1;
	job->dest->active--;
	q->running--;
	if (q->idle_timer == 0)
		q->idle_timer =
		    ev_timer_add(q->loop, QMGR_CONN_IDLE, qmgr_conn_sweep, q);
}

/* qmgr_conn_take - a parked connection to transport, or -1 */
static int qmgr_conn_take(struct qmgr *q, const char *transport, unsigned *uses)
{
	struct qmgr_conn **pp, *c;
	int fd;

	for (pp = &q->idle; (c = *pp) != NULL; pp = &c->next) {
		if (strcmp(c->transport, transport) != 0)
			continue;
		*pp = c->next;
		fd = c->fd;
		*uses = c->uses;
		free(c->transport);
		free(c);
		return fd;
	}
	return -1;
}

/* qmgr_job_restart - a parked connection was closed: start afresh */
static void qmgr_job_restart(struct qmgr *q, struct qmgr_job *job)
{
	ev_fd_del(q->loop, job->sock);
	(void)close(job->sock);
	job->sock = -1;
	job->dest->active--;
	q->running--;
	if (job->timer != 0)
		ev_timer_cancel(q->loop, job->timer);
	job->timer = 0;
	strbuf_free(&job->inbuf);
	job->reused = false;
	job->uses = 0;
	qmgr_job_requeue(job);
	qmgr_dispatch(q);
}

/* qmgr_job_enqueue - put a job at the end of its destination's queue */
void qmgr_job_enqueue(struct qmgr *q, struct qmgr_job *job)
{
	struct qmgr_dest *d = job->dest;

	(void)q;
	job->state = QMGR_JOB_QUEUED;
	job->next = NULL;
	if (d->tail != NULL)
		d->tail->next = job;
	else
		d->head = job;
	d->tail = job;
}

/* qmgr_job_requeue - put a job back at the head (agent busy) */
static void qmgr_job_requeue(struct qmgr_job *job)
{
	struct qmgr_dest *d = job->dest;

	job->state = QMGR_JOB_QUEUED;
	job->next = d->head;
	d->head = job;
	if (d->tail == NULL)
		d->tail = job;
}

/* qmgr_job_fail - the job failed as a whole: defer its recipients */
static void qmgr_job_fail(struct qmgr *q, struct qmgr_job *job, const char *dsn,
			  const char *fmt, ...) PRINTFLIKE(4, 5);

static void qmgr_job_fail(struct qmgr *q, struct qmgr_job *job, const char *dsn,
			  const char *fmt, ...)
{
	struct qmgr_msg *m = job->msg;
	struct strbuf *why = strbuf_alloc(128);
	double now = qmgr_now();
	va_list ap;
	size_t k;

	va_start(ap, fmt);
	(void)strbuf_vprintf_append(why, fmt, ap);
	va_end(ap);
	if (job->kind == QMGR_JOB_BOUNCE) {
		log_warn("%s: cannot return the message to its sender: %s",
			 m->id, why->data);
		for (k = 0; k < job->n; k++)
			m->r[job->idx[k]].state = QMGR_R_DEFER;
	} else {
		for (k = 0; k < job->n; k++)
			qmgr_record(q, m, job->idx[k], QMGR_R_DEFER, dsn,
				    why->data, "none");
		if (fdatasync(m->fd) < 0)
			log_warn("%s: fdatasync: %m", m->id);
		for (k = 0; k < job->n; k++)
			qmgr_log_rcpt(m, job->idx[k], "none",
				      job->t_start ? job->t_start : now,
				      job->t_sent ? job->t_sent : now, now, dsn,
				      "deferred", why->data);
	}
	strbuf_free(&why);
	qmgr_job_end(q, job);
}

/* qmgr_job_end - release the connection and tell the message */
static void qmgr_job_end(struct qmgr *q, struct qmgr_job *job)
{
	struct qmgr_msg *m = job->msg;

	if (job->sock >= 0) {
		ev_fd_del(q->loop, job->sock);
		(void)close(job->sock);
		job->dest->active--;
		q->running--;
	}
	if (job->timer != 0)
		ev_timer_cancel(q->loop, job->timer);
	strbuf_free(&job->inbuf);
	free(job);
	m->jobs--;
	qmgr_msg_done_job(q, m);
	qmgr_dispatch(q);
}

/* qmgr_deliver_results - record and log a deliver reply */
static void qmgr_deliver_results(struct qmgr *q, struct qmgr_job *job,
				 struct deliver_request *req)
{
	struct qmgr_msg *m = job->msg;
	const char *relay =
	    req->relay && *req->relay ? req->relay : job->dest->transport;
	double now = qmgr_now();
	size_t k;

	for (k = 0; k < job->n; k++) {
		struct deliver_rcpt *r = &req->rcpt[k];
		enum qmgr_rstate st = r->status == DELIVER_OK ? QMGR_R_OK
				      : r->status == DELIVER_BOUNCE
					  ? QMGR_R_BOUNCE
					  : QMGR_R_DEFER;

		qmgr_record(q, m, job->idx[k], st, r->dsn, r->reason, relay);
	}
	if (!qmgr_msg_will_be_removed(m) && fdatasync(m->fd) < 0)
		log_warn("%s: fdatasync: %m", m->id);
	for (k = 0; k < job->n; k++) {
		struct deliver_rcpt *r = &req->rcpt[k];

		qmgr_log_rcpt(m, job->idx[k], relay, job->t_start, job->t_sent,
			      now, r->dsn,
			      r->status == DELIVER_OK       ? "sent"
			      : r->status == DELIVER_BOUNCE ? "bounced"
							    : "deferred",
			      r->reason ? r->reason : "");
	}
}

/* qmgr_bounce_results - a bounce reply: BOUNCED or try again later */
static void qmgr_bounce_results(struct qmgr *q, struct qmgr_job *job,
				const struct attr_msg *msg)
{
	struct qmgr_msg *m = job->msg;
	const char *status = attr_get_str(msg, ATTR_STATUS);
	const char *id = attr_get_str(msg, "queue_id");
	size_t k;

	if (job->delayed) {
		for (k = 0; k < job->n; k++)
			m->r[job->idx[k]].state = QMGR_R_DEFER;
		if (status != NULL && strcmp(status, "ok") == 0)
			log_info("%s: sender delay notification: %s", m->id,
				 id ? id : "?");
		else
			log_warn("%s: cannot send a delay warning: %s", m->id,
				 attr_get_str(msg, ATTR_REASON)
				     ? attr_get_str(msg, ATTR_REASON)
				     : "bounce service refused");
		return;
	}
	if (status == NULL || strcmp(status, "ok") != 0) {
		const char *why = attr_get_str(msg, ATTR_REASON);

		log_warn("%s: cannot return the message to its sender: %s",
			 m->id, why ? why : "bounce service refused");
		for (k = 0; k < job->n; k++)
			m->r[job->idx[k]].state = QMGR_R_DEFER;
		return;
	}
	for (k = 0; k < job->n; k++)
		qmgr_record(q, m, job->idx[k], QMGR_R_BOUNCED, NULL, NULL,
			    NULL);
	if (fdatasync(m->fd) < 0)
		log_warn("%s: fdatasync: %m", m->id);
	log_info("%s: sender non-delivery notification: %s", m->id,
		 id ? id : "?");
}

/* qmgr_send_deliver - the deliver request with the file attached */
static int qmgr_send_deliver(struct qmgr_job *job, int rofd)
{
	struct qmgr_msg *m = job->msg;
	struct deliver_request req;
	size_t k;
	int ret;

	deliver_request_init(&req);
	req.queue_id = xstrdup(m->id);
	req.sender = xstrdup(m->q.sender);
	req.content_offset = (long long)m->q.content_offset;
	req.content_length = (long long)m->q.content_length;
	req.arrival = m->q.arrival;
	for (k = 0; k < job->n; k++) {
		const struct qfile_rcpt *r = &m->q.rcpts[job->idx[k]];

		(void)deliver_request_add_rcpt(&req, r->address, r->orcpt);
	}
	req.fd = rofd;
	ret = deliver_request_send(job->sock, &req, QMGR_SEND_TIMEOUT);
	req.fd = -1;
	deliver_request_release(&req);
	return ret;
}

/* qmgr_send_bounce - the bounce request with the file attached */
static int qmgr_send_bounce(struct qmgr_job *job, int rofd)
{
	struct qmgr_msg *m = job->msg;
	struct strbuf *out = strbuf_alloc(1024);
	char name[32];
	size_t k;
	int ret;

	attr_put_str(out, ATTR_REQUEST, "bounce");
	attr_put_str(out, "queue_id", m->id);
	attr_put_str(out, "action", job->delayed ? "delayed" : "failed");
	attr_put_int(out, "nrcpt", (long long)job->n);
	for (k = 0; k < job->n; k++) {
		const struct qmgr_rcpt *r = &m->r[job->idx[k]];

		(void)snprintf(name, sizeof(name), "index_%zu", k);
		attr_put_int(out, name, (long long)job->idx[k]);
		(void)snprintf(name, sizeof(name), "dsn_%zu", k);
		attr_put_str(out, name, r->dsn[0] ? r->dsn : "5.0.0");
		(void)snprintf(name, sizeof(name), "reason_%zu", k);
		attr_put_str(out, name, r->reason ? r->reason : "");
		(void)snprintf(name, sizeof(name), "relay_%zu", k);
		attr_put_str(out, name, r->relay ? r->relay : "none");
	}
	attr_put_end(out);
	ret = ipc_send_fd(job->sock, rofd, out->data, out->len);
	strbuf_free(&out);
	return ret;
}

/* qmgr_job_hello - the agent greeted: check it, send the request */
static int qmgr_job_hello(struct qmgr *q, struct qmgr_job *job,
			  const struct attr_msg *msg)
{
	const char *proto = attr_get_str(msg, ATTR_PROTOCOL);
	const char *vers = attr_get_str(msg, ATTR_VERSION);
	bool bounce = job->kind == QMGR_JOB_BOUNCE;

	if (proto == NULL || vers == NULL ||
	    strcmp(proto, bounce ? BOUNCE_PROTOCOL : DELIVER_PROTOCOL) != 0 ||
	    strcmp(vers, "1") != 0) {
		qmgr_job_fail(q, job, "4.3.0",
			      "delivery temporarily suspended: transport %s "
			      "speaks the wrong protocol",
			      job->dest->transport);
		return -1;
	}
	return qmgr_job_send(q, job);
}

/* qmgr_job_send - send the request with the queue file attached */
static int qmgr_job_send(struct qmgr *q, struct qmgr_job *job)
{
	bool bounce = job->kind == QMGR_JOB_BOUNCE;
	int rofd, r;

	rofd = openat(q->dirfd[QMGR_Q_ACTIVE], job->msg->id,
		      O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (rofd < 0) {
		qmgr_job_fail(q, job, "4.3.0", "open queue file: %s",
			      strerror(errno));
		return -1;
	}
	r = bounce ? qmgr_send_bounce(job, rofd) : qmgr_send_deliver(job, rofd);
	(void)close(rofd);
	if (r < 0 && job->reused) {
		qmgr_job_restart(q, job);
		return -1;
	}
	if (r < 0) {
		qmgr_job_fail(q, job, "4.3.0",
			      "delivery temporarily suspended: send request "
			      "to transport %s: %s",
			      job->dest->transport, strerror(errno));
		return -1;
	}
	job->t_sent = qmgr_now();
	job->state = QMGR_JOB_REPLY;
	return 0;
}

/* qmgr_job_reply - a complete reply is in job->inbuf */
static void qmgr_job_reply(struct qmgr *q, struct qmgr_job *job,
			   const struct attr_msg *msg)
{
	struct deliver_request req;
	const char *error = NULL;
	size_t k;

	if (job->kind == QMGR_JOB_BOUNCE) {
		qmgr_bounce_results(q, job, msg);
		qmgr_job_end(q, job);
		return;
	}
	deliver_request_init(&req);
	for (k = 0; k < job->n; k++)
		(void)deliver_request_add_rcpt(
		    &req, job->msg->q.rcpts[job->idx[k]].address, "");
	/* The whole reply is buffered: this decodes without reading. */
	if (deliver_reply_read(job->sock, job->inbuf, &req, 0, &error) < 0) {
		const char *why = attr_get_str(msg, ATTR_REASON);

		log_warn("%s: transport %s: %s%s%s", job->msg->id,
			 job->dest->transport, error, why ? ": " : "",
			 why ? why : "");
		deliver_request_release(&req);
		qmgr_job_fail(q, job, "4.3.0",
			      "delivery temporarily suspended: transport %s: "
			      "%s",
			      job->dest->transport, why ? why : error);
		return;
	}
	qmgr_deliver_results(q, job, &req);
	deliver_request_release(&req);
	qmgr_conn_park(q, job);
	qmgr_job_end(q, job);
}

/* qmgr_job_read - the agent's socket is readable */
static void qmgr_job_read(struct ev_loop *loop, int fd, int events, void *ctx)
{
	struct qmgr_job *job = ctx;
	struct qmgr *q = job->msg->owner;
	struct attr_msg *msg;
	const char *error = NULL;
	char buf[8192];
	size_t used;
	ssize_t n;
	int r;

	(void)loop;
	(void)events;
	for (;;) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n > 0) {
			if (strbuf_catn(job->inbuf, buf, (size_t)n) < 0) {
				qmgr_job_fail(q, job, "4.3.0",
					      "transport %s: reply too large",
					      job->dest->transport);
				return;
			}
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	msg = attr_msg_alloc();
	r = attr_decode(job->inbuf->data, job->inbuf->len, msg, &used, &error);
	if (r == 0 && n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		attr_msg_free(&msg);
		return; /* more to come */
	}
	if (r == 0 && job->reused && job->inbuf->len == 0) {
		/* A parked connection the agent had closed. */
		attr_msg_free(&msg);
		qmgr_job_restart(q, job);
		return;
	}
	if (r <= 0) {
		attr_msg_free(&msg);
		qmgr_job_fail(q, job, "4.3.0",
			      "delivery temporarily suspended: lost "
			      "connection with transport %s%s%s",
			      job->dest->transport, r < 0 ? ": " : "",
			      r < 0 ? error : "");
		return;
	}
	if (job->state == QMGR_JOB_HELLO) {
		strbuf_consume(job->inbuf, used);
		(void)qmgr_job_hello(q, job, msg); /* it ends a failed job */
		attr_msg_free(&msg);
		/* A reply cannot come before the request: nothing left. */
		return;
	}
	qmgr_job_reply(q, job, msg);
	attr_msg_free(&msg);
}

/* qmgr_job_timeout - the agent took longer than ipc_timeout */
static void qmgr_job_timeout(struct ev_loop *loop, void *ctx)
{
	struct qmgr_job *job = ctx;

	(void)loop;
	job->timer = 0;
	qmgr_job_fail(job->msg->owner, job, "4.4.2",
		      "delivery temporarily suspended: conversation with "
		      "transport %s timed out",
		      job->dest->transport);
}

/* qmgr_job_skip - a job of a deleted or held message: do not start */
static void qmgr_job_skip(struct qmgr *q, struct qmgr_job *job)
{
	size_t k;

	for (k = 0; k < job->n; k++)
		if (job->msg->r[job->idx[k]].state == QMGR_R_BUSY)
			job->msg->r[job->idx[k]].state = QMGR_R_TODO;
	qmgr_job_end(q, job);
}

/*
 * qmgr_job_start - connect a queued job: 1 started (or finished),
 * 0 the agent's listen queue is full (the job is back in its queue).
 */
static int qmgr_job_start(struct qmgr *q, struct qmgr_job *job)
{
	struct sockaddr_un sun;
	int fd, n;

	if (job->msg->deleted ||
	    (job->msg->hold && job->kind == QMGR_JOB_DELIVER)) {
		qmgr_job_skip(q, job);
		return 1;
	}
	job->t_start = qmgr_now();
	if (job->kind == QMGR_JOB_DELIVER &&
	    (fd = qmgr_conn_take(q, job->dest->transport, &job->uses)) >= 0) {
		job->reused = true;
		job->sock = fd;
		job->inbuf = strbuf_alloc(1024);
		strbuf_set_max(job->inbuf,
			       ATTR_VALUE_MAX + ATTR_COUNT_MAX * 128);
		job->dest->active++;
		q->running++;
		ev_fd_set(q->loop, fd, EV_READ, qmgr_job_read, job);
		job->timer =
		    ev_timer_add(q->loop, (long)q->cfg->ipc_timeout * 1000,
				 qmgr_job_timeout, job);
		(void)qmgr_job_send(q, job);
		return 1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	n = snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/private/%s",
		     q->cfg->queue_directory, job->dest->transport);
	if (n < 0 || (size_t)n >= sizeof(sun.sun_path)) {
		qmgr_job_fail(q, job, "4.3.5", "socket path too long");
		return 1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_warn("socket: %m");
		qmgr_job_requeue(job);
		return 0;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 &&
	    errno != EINPROGRESS) {
		int err = errno;

		(void)close(fd);
		if (err == EAGAIN) {
			qmgr_job_requeue(job);
			return 0;
		}
		qmgr_job_fail(q, job, "4.3.0",
			      "delivery temporarily suspended: connect to "
			      "transport private/%s: %s",
			      job->dest->transport, strerror(err));
		return 1;
	}
	job->sock = fd;
	job->inbuf = strbuf_alloc(1024);
	strbuf_set_max(job->inbuf, ATTR_VALUE_MAX + ATTR_COUNT_MAX * 128);
	job->state = QMGR_JOB_HELLO;
	job->dest->active++;
	q->running++;
	ev_fd_set(q->loop, fd, EV_READ, qmgr_job_read, job);
	job->timer = ev_timer_add(q->loop, (long)q->cfg->ipc_timeout * 1000,
				  qmgr_job_timeout, job);
	return 1;
}

/* qmgr_retry_cb - try the destinations again after EAGAIN */
static void qmgr_retry_cb(struct ev_loop *loop, void *ctx)
{
	struct qmgr *q = ctx;

	(void)loop;
	q->retry_timer = 0;
	qmgr_dispatch(q);
}

/* qmgr_dispatch - start queued jobs as far as the limits allow */
void qmgr_dispatch(struct qmgr *q)
{
	static bool busy;
	struct qmgr_dest *d;
	bool progress = true;

	if (busy) /* a job that ended at once calls back in here */
		return;
	busy = true;
	while (progress) {
		progress = false;
		for (d = q->dests; d != NULL; d = d->next) {
			struct qmgr_job *job;

			if (d->head == NULL || d->active >= d->limit ||
			    q->running >= q->running_limit)
				continue;
			job = d->head;
			d->head = job->next;
			if (d->head == NULL)
				d->tail = NULL;
			job->next = NULL;
			if (qmgr_job_start(q, job)) {
				progress = true;
			} else if (q->retry_timer == 0) {
				q->retry_timer =
				    ev_timer_add(q->loop, QMGR_EAGAIN_RETRY,
						 qmgr_retry_cb, q);
			}
		}
	}
	busy = false;
}

/*
 * qmgr_bounce_start - queue a job for the bounce service: the failed
 * recipients (a non-delivery notification), or with delayed the
 * deferred recipients due for a delay warning.
 */
void qmgr_bounce_start(struct qmgr *q, struct qmgr_msg *m, bool delayed)
{
	struct qmgr_job *job = xcalloc(1, sizeof(*job));
	size_t i;

	job->kind = QMGR_JOB_BOUNCE;
	job->delayed = delayed;
	job->msg = m;
	job->sock = -1;
	job->dest = qmgr_dest_get(q, QMGR_TRANSPORT_BOUNCE, "bounce");
	for (i = 0; i < m->q.nrcpt && job->n < DELIVER_RCPT_MAX; i++) {
		struct qmgr_rcpt *r = &m->r[i];

		if (delayed ? !(r->state == QMGR_R_DEFER && r->warn)
			    : r->state != QMGR_R_BOUNCE)
			continue;
		r->warn = false;
		r->state = QMGR_R_BUSY;
		job->idx[job->n++] = i;
	}
	m->jobs++;
	m->bouncing = true;
	qmgr_job_enqueue(q, job);
}
