/*
 * NAME
 *	proxyd_db - PostgreSQL connections driven by the event loop
 * SYNOPSIS
 *	see proxyd.h
 * DESCRIPTION
 *	proxyd keeps `connections` libpq connections open (conninfo from
 *	proxyd.conf; a multi-host list fails over inside libpq). Nothing
 *	here blocks: connections are made with PQconnectStart() and
 *	PQconnectPoll(), queries are sent with PQsendPrepare() and
 *	PQsendQueryPrepared() on non-blocking connections, and results are
 *	read when the socket is readable.
 *
 *	Each query is prepared once per connection, the first time it is
 *	used, as statement "p<index>" with every parameter typed text; the
 *	key's parts travel only as bind values.
 *
 *	Jobs wait in one FIFO for a free connection. Every job has a
 *	deadline (query_timeout): a job still queued then gets
 *	LOOKUP_RETRY; a query still running then also closes its
 *	connection (the server may be hung), which is then made again.
 *
 *	Answers: rows -> LOOKUP_OK with the non-NULL fields of all rows
 *	joined by ','; no row (or only NULL/empty fields) -> LOOKUP_NOKEY;
 *	a command (quota update) -> LOOKUP_OK, or LOOKUP_NOKEY when it
 *	touched no row; any error -> LOOKUP_RETRY, never "not found".
 *
 *	When no connection is up, a background timer reconnects with
 *	exponential backoff (100 ms doubling to 2 s) and new jobs fail at
 *	once with LOOKUP_RETRY instead of waiting out their deadline, so a
 *	database outage costs clients nothing but a 4xx. The first
 *	failure of an outage is logged as a warning, recovery as info.
 * DIAGNOSTICS
 *	Warnings name the statement's table and the server's message.
 * SEE ALSO
 *	docs/proxyd.md, libpq "Asynchronous Command Processing".
 */
#include "sys_defs.h"

#include <libpq-fe.h>

#include "event.h"
#include "log.h"
#include "lookup_clnt.h"
#include "strbuf.h"
#include "xalloc.h"
#include "proxyd.h"

#define PROXYD_TEXTOID 25
#define PROXYD_VALUE_MAX 100000 /* longest joined answer */
#define PROXYD_BACKOFF_MIN 100
#define PROXYD_BACKOFF_MAX 2000

enum proxyd_conn_state {
	CONN_DOWN,
	CONN_CONNECTING,
	CONN_READY,
	CONN_BUSY,
};

struct proxyd_job {
	struct proxyd_job *next;
	const struct proxyd_query *q;
	char *params[PROXYD_PARAMS_MAX];
	proxyd_job_cb cb;
	void *ctx;
	uint64_t timer;
	struct proxyd_conn *conn; /* running on, or NULL while queued */
};

struct proxyd_conn {
	int id;
	PGconn *pg;
	int fd;
	enum proxyd_conn_state state;
	bool *prepared;
	struct proxyd_job *job;
	bool preparing;
	bool failed;
	bool broken; /* SQLSTATE class 08: drop after this job */
	int status;
	struct strbuf value;
	struct strbuf error;
	uint64_t connect_timer;
};

static struct {
	struct ev_loop *loop;
	const struct proxyd_conf *conf;
	struct proxyd_conn *conns;
	size_t nconns;
	size_t nqueries;
	struct proxyd_job *head, *tail;
	long backoff;
	uint64_t retry_timer;
	bool retry_pending;
	bool outage;
} db;

static void proxyd_db_dispatch(void);
static void proxyd_db_io(struct ev_loop *loop, int fd, int events, void *ctx);

/* proxyd_db_job_free - release a job and its bind values */
static void proxyd_db_job_free(struct proxyd_job *job)
{
	int i;

	for (i = 0; i < PROXYD_PARAMS_MAX; i++)
		free(job->params[i]);
	free(job);
}

/* proxyd_db_complete - answer a job and free it */
static void proxyd_db_complete(struct proxyd_job *job, int status,
			       const char *value)
{
	if (job->timer != 0)
		ev_timer_cancel(db.loop, job->timer);
	job->cb(job, status, value, job->ctx);
	proxyd_db_job_free(job);
}

/* proxyd_db_any_up - whether some connection is up or coming up */
static bool proxyd_db_any_up(void)
{
	size_t i;

	for (i = 0; i < db.nconns; i++) {
		if (db.conns[i].state != CONN_DOWN)
			return true;
	}
	return false;
}

/* proxyd_db_fail_queue - every queued job: LOOKUP_RETRY */
static void proxyd_db_fail_queue(void)
{
	struct proxyd_job *job;

	while ((job = db.head) != NULL) {
		db.head = job->next;
		if (db.head == NULL)
			db.tail = NULL;
		proxyd_db_complete(job, LOOKUP_RETRY, NULL);
	}
}

/* proxyd_db_trim - a libpq message without its trailing newline */
static const char *proxyd_db_trim(struct strbuf *sb, const char *msg)
{
	strbuf_copy(sb, msg ? msg : "unknown error");
	while (sb->len > 0 &&
	       (sb->data[sb->len - 1] == '\n' || sb->data[sb->len - 1] == ' '))
		strbuf_truncate(sb, sb->len - 1);
	for (size_t i = 0; i < sb->len; i++) {
		if (sb->data[i] == '\n' || sb->data[i] == '\t')
			sb->data[i] = ' ';
	}
	return strbuf_str(sb);
}

static void proxyd_db_schedule(void);

/* proxyd_db_down - close a connection; its job gets LOOKUP_RETRY */
static void proxyd_db_down(struct proxyd_conn *c, const char *reason)
{
	struct proxyd_job *job = c->job;

	if (!db.outage || c->state != CONN_CONNECTING)
		log_warn("database connection %d: %s", c->id, reason);
	else
		log_debug("database connection %d: %s", c->id, reason);
	if (c->connect_timer != 0)
		ev_timer_cancel(db.loop, c->connect_timer);
	c->connect_timer = 0;
	if (c->fd >= 0)
		ev_fd_del(db.loop, c->fd);
	c->fd = -1;
	PQfinish(c->pg);
	c->pg = NULL;
	c->state = CONN_DOWN;
	c->job = NULL;
	if (job != NULL) {
		job->conn = NULL;
		proxyd_db_complete(job, LOOKUP_RETRY, NULL);
	}
	if (!proxyd_db_any_up()) {
		db.outage = true;
		proxyd_db_fail_queue();
	}
	proxyd_db_schedule();
}

/* proxyd_db_connected - a connection is ready */
static void proxyd_db_connected(struct proxyd_conn *c)
{
	if (c->connect_timer != 0)
		ev_timer_cancel(db.loop, c->connect_timer);
	c->connect_timer = 0;
	if (PQsetnonblocking(c->pg, 1) != 0) {
		proxyd_db_down(c, "cannot make the connection non-blocking");
		return;
	}
	memset(c->prepared, 0, db.nqueries * sizeof(*c->prepared));
	c->state = CONN_READY;
	ev_fd_set(db.loop, c->fd, EV_READ, proxyd_db_io, c);
	db.backoff = 0;
	if (db.outage)
		log_info("database connection %d restored (%s)", c->id,
			 PQhost(c->pg) ? PQhost(c->pg) : "?");
	else
		log_debug("database connection %d up", c->id);
	db.outage = false;
	proxyd_db_dispatch();
}

/* proxyd_db_poll - advance a connection attempt */
static void proxyd_db_poll(struct proxyd_conn *c)
{
	PostgresPollingStatusType r = PQconnectPoll(c->pg);
	int fd = PQsocket(c->pg);

	if (fd != c->fd && c->fd >= 0)
		ev_fd_del(db.loop, c->fd);
	c->fd = fd;
	switch (r) {
	case PGRES_POLLING_OK:
		proxyd_db_connected(c);
		break;
	case PGRES_POLLING_READING:
		ev_fd_set(db.loop, c->fd, EV_READ, proxyd_db_io, c);
		break;
	case PGRES_POLLING_WRITING:
		ev_fd_set(db.loop, c->fd, EV_WRITE, proxyd_db_io, c);
		break;
	default:
		proxyd_db_down(
		    c, proxyd_db_trim(&c->error, PQerrorMessage(c->pg)));
		break;
	}
}

/* proxyd_db_connect_timeout - a connection attempt took too long */
static void proxyd_db_connect_timeout(struct ev_loop *loop, void *ctx)
{
	struct proxyd_conn *c = ctx;

	(void)loop;
	c->connect_timer = 0;
	if (c->state == CONN_CONNECTING)
		proxyd_db_down(c, "connection timeout");
}

/* proxyd_db_start - begin a connection attempt */
static void proxyd_db_start(struct proxyd_conn *c)
{
	c->pg = PQconnectStart(db.conf->conninfo);
	c->fd = -1;
	if (c->pg == NULL) {
		log_warn("database connection %d: out of memory", c->id);
		proxyd_db_schedule();
		return;
	}
	c->state = CONN_CONNECTING;
	if (PQstatus(c->pg) == CONNECTION_BAD || PQsocket(c->pg) < 0) {
		proxyd_db_down(
		    c, proxyd_db_trim(&c->error, PQerrorMessage(c->pg)));
		return;
	}
	c->connect_timer = ev_timer_add(db.loop, db.conf->query_timeout,
					proxyd_db_connect_timeout, c);
	c->fd = PQsocket(c->pg);
	ev_fd_set(db.loop, c->fd, EV_WRITE, proxyd_db_io, c);
}

/* proxyd_db_retry - the reconnect timer */
static void proxyd_db_retry(struct ev_loop *loop, void *ctx)
{
	size_t i;

	(void)loop;
	(void)ctx;
	db.retry_pending = false;
	for (i = 0; i < db.nconns; i++) {
		if (db.conns[i].state == CONN_DOWN)
			proxyd_db_start(&db.conns[i]);
	}
}

/* proxyd_db_schedule - reconnect later, backing off */
static void proxyd_db_schedule(void)
{
	if (db.retry_pending)
		return;
	db.retry_pending = true;
	db.retry_timer =
	    ev_timer_add(db.loop, db.backoff, proxyd_db_retry, NULL);
	db.backoff = db.backoff == 0 ? PROXYD_BACKOFF_MIN : db.backoff * 2;
	if (db.backoff > PROXYD_BACKOFF_MAX)
		db.backoff = PROXYD_BACKOFF_MAX;
}

/* proxyd_db_flush - push out what libpq buffered */
static void proxyd_db_flush(struct proxyd_conn *c)
{
	int r = PQflush(c->pg);

	if (r < 0) {
		proxyd_db_down(
		    c, proxyd_db_trim(&c->error, PQerrorMessage(c->pg)));
		return;
	}
	ev_fd_set(db.loop, c->fd, r == 1 ? EV_READ | EV_WRITE : EV_READ,
		  proxyd_db_io, c);
}

/* proxyd_db_send - the next step of a job: prepare or execute */
static void proxyd_db_send(struct proxyd_conn *c)
{
	const struct proxyd_query *q = c->job->q;
	Oid types[PROXYD_PARAMS_MAX];
	char name[16];
	int i, ok;

	snprintf(name, sizeof(name), "p%d", q->index);
	c->failed = false;
	c->status = LOOKUP_NOKEY;
	strbuf_reset(&c->value);
	if (!c->prepared[q->index]) {
		for (i = 0; i < q->nparams; i++)
			types[i] = PROXYD_TEXTOID;
		c->preparing = true;
		ok = PQsendPrepare(c->pg, name, q->sql, q->nparams, types);
	} else {
		c->preparing = false;
		ok = PQsendQueryPrepared(c->pg, name, q->nparams,
					 (const char *const *)c->job->params,
					 NULL, NULL, 0);
	}
	if (!ok) {
		proxyd_db_down(
		    c, proxyd_db_trim(&c->error, PQerrorMessage(c->pg)));
		return;
	}
	proxyd_db_flush(c);
}

/* proxyd_db_take - fold one PGresult into the job's answer */
static void proxyd_db_take(struct proxyd_conn *c, PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);
	const char *state;
	int rows, cols, r, k;

	if (st == PGRES_COMMAND_OK) {
		const char *n = PQcmdTuples(res);

		if (!c->preparing)
			c->status = (*n == '\0' || strcmp(n, "0") != 0)
					? LOOKUP_OK
					: LOOKUP_NOKEY;
		return;
	}
	if (st != PGRES_TUPLES_OK) {
		c->failed = true;
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		if (state != NULL && strncmp(state, "08", 2) == 0)
			c->broken = true;
		/* The server's message may quote the key: escaped. */
		log_warn("table %s: %s failed: %s", c->job->q->name,
			 c->preparing ? "prepare" : "query",
			 log_esc(proxyd_db_trim(&c->error,
						PQresultErrorMessage(res))));
		return;
	}
	rows = PQntuples(res);
	cols = PQnfields(res);
	for (r = 0; r < rows; r++) {
		for (k = 0; k < cols; k++) {
			if (PQgetisnull(res, r, k) ||
			    PQgetlength(res, r, k) == 0)
				continue;
			if (c->value.len > 0)
				strbuf_addch(&c->value, ',');
			strbuf_catn(&c->value, PQgetvalue(res, r, k),
				    (size_t)PQgetlength(res, r, k));
		}
	}
	if (c->value.len > PROXYD_VALUE_MAX) {
		log_warn("table %s: answer longer than %d bytes",
			 c->job->q->name, PROXYD_VALUE_MAX);
		c->failed = true;
		return;
	}
	c->status = c->value.len > 0 ? LOOKUP_OK : LOOKUP_NOKEY;
}

/* proxyd_db_step_done - a prepare or an execute has finished */
static void proxyd_db_step_done(struct proxyd_conn *c)
{
	struct proxyd_job *job = c->job;
	int status;

	if (c->preparing && !c->failed) {
		c->prepared[job->q->index] = true;
		proxyd_db_send(c);
		return;
	}
	status = c->failed ? LOOKUP_RETRY : c->status;
	c->job = NULL;
	job->conn = NULL;
	c->state = CONN_READY;
	if (c->broken || PQstatus(c->pg) != CONNECTION_OK) {
		c->broken = false;
		proxyd_db_down(c, "connection lost");
	}
	proxyd_db_complete(job, status,
			   status == LOOKUP_OK ? c->value.data : NULL);
	proxyd_db_dispatch();
}

/* proxyd_db_read - results are arriving */
static void proxyd_db_read(struct proxyd_conn *c)
{
	PGresult *res;

	if (!PQconsumeInput(c->pg)) {
		proxyd_db_down(
		    c, proxyd_db_trim(&c->error, PQerrorMessage(c->pg)));
		return;
	}
	while (c->state == CONN_BUSY && !PQisBusy(c->pg)) {
		if ((res = PQgetResult(c->pg)) == NULL) {
			proxyd_db_step_done(c);
			continue;
		}
		proxyd_db_take(c, res);
		PQclear(res);
	}
	if (c->state == CONN_READY && PQstatus(c->pg) != CONNECTION_OK)
		proxyd_db_down(c, "connection lost");
}

/* proxyd_db_io - socket events of one connection */
static void proxyd_db_io(struct ev_loop *loop, int fd, int events, void *ctx)
{
	struct proxyd_conn *c = ctx;

	(void)loop;
	(void)fd;
	if (c->state == CONN_CONNECTING) {
		proxyd_db_poll(c);
		return;
	}
	if ((events & EV_WRITE) && c->state == CONN_BUSY) {
		proxyd_db_flush(c);
		if (c->state != CONN_BUSY)
			return;
	}
	if (events & EV_READ)
		proxyd_db_read(c);
}

/* proxyd_db_dispatch - give queued jobs to idle connections */
static void proxyd_db_dispatch(void)
{
	size_t i;

	for (i = 0; i < db.nconns && db.head != NULL; i++) {
		struct proxyd_conn *c = &db.conns[i];
		struct proxyd_job *job;

		if (c->state != CONN_READY)
			continue;
		job = db.head;
		db.head = job->next;
		if (db.head == NULL)
			db.tail = NULL;
		job->next = NULL;
		job->conn = c;
		c->job = job;
		c->state = CONN_BUSY;
		proxyd_db_send(c);
	}
}

/* proxyd_db_job_timeout - a job's deadline passed */
static void proxyd_db_job_timeout(struct ev_loop *loop, void *ctx)
{
	struct proxyd_job *job = ctx, **pp;

	(void)loop;
	job->timer = 0;
	if (job->conn != NULL) {
		log_warn("table %s: query timeout after %lld ms", job->q->name,
			 db.conf->query_timeout);
		proxyd_db_down(job->conn, "closed after a query timeout");
		return;
	}
	for (pp = &db.head; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == job) {
			*pp = job->next;
			break;
		}
	}
	db.tail = NULL;
	for (pp = &db.head; *pp != NULL; pp = &(*pp)->next)
		db.tail = *pp;
	log_warn("table %s: no database connection within %lld ms",
		 job->q->name, db.conf->query_timeout);
	proxyd_db_complete(job, LOOKUP_RETRY, NULL);
}

/* proxyd_db_submit - run a query; cb gets the answer (maybe at once) */
void proxyd_db_submit(const struct proxyd_query *q, char **params,
		      proxyd_job_cb cb, void *ctx)
{
	struct proxyd_job *job = xcalloc(1, sizeof(*job));
	int i;

	job->q = q;
	for (i = 0; i < q->nparams; i++) {
		job->params[i] = params[i];
		params[i] = NULL;
	}
	job->cb = cb;
	job->ctx = ctx;
	if (!proxyd_db_any_up()) {
		proxyd_db_complete(job, LOOKUP_RETRY, NULL);
		return;
	}
	job->timer = ev_timer_add(db.loop, db.conf->query_timeout,
				  proxyd_db_job_timeout, job);
	if (db.tail != NULL)
		db.tail->next = job;
	else
		db.head = job;
	db.tail = job;
	proxyd_db_dispatch();
}

/* proxyd_db_init - make the connections (asynchronously) */
void proxyd_db_init(struct ev_loop *loop, const struct proxyd_conf *conf)
{
	size_t i;

	db.loop = loop;
	db.conf = conf;
	db.nconns = (size_t)conf->connections;
	db.nqueries = conf->ntables + 2;
	db.conns = xcalloc(db.nconns, sizeof(*db.conns));
	for (i = 0; i < db.nconns; i++) {
		struct proxyd_conn *c = &db.conns[i];

		c->id = (int)i + 1;
		c->fd = -1;
		c->prepared = xcalloc(db.nqueries, sizeof(*c->prepared));
		strbuf_init(&c->value, 256);
		strbuf_init(&c->error, 128);
		proxyd_db_start(c);
	}
}
