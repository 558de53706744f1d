/*
 * NAME
 *	proxyd_db - PostgreSQL connections driven by the event loop
 * SYNOPSIS
 *	see proxyd.h
 * DESCRIPTION
 *	proxyd keeps `connections` libpq connections open (conninfo from
 *	proxyd.conf; a multi-host list fails over inside libpq). Nothing
 *	here blocks: connections are made with PQconnectStart() and
 *	PQconnectPoll(), statements are prepared with PQsendPrepare() and
 *	run with PQsendQueryPrepared() in pipeline mode on non-blocking
 *	connections, and results are read when the socket is readable.
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
 *	Writes (a query marked batched: the quota update) are gathered
 *	for quota_batch_ms after the first one, or until PROXYD_BATCH_MAX
 *	wait, and then run together on one connection in libpq's
 *	pipeline mode: one round trip and one transaction (the statements
 *	before a Sync form one implicit transaction) instead of one of
 *	each per write. Their answers go out when the transaction has
 *	ended; if any statement fails, the transaction is rolled back and
 *	every write of the batch gets LOOKUP_RETRY. Lookups are sent in
 *	pipeline mode too, each alone, so there is one way to run a
 *	statement.
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
#define PROXYD_BATCH_MAX 64

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
	int status;               /* LOOKUP_OK or _NOKEY so far */
	bool failed;              /* the statement failed */
};

/* A list of jobs in order. */
struct proxyd_jobq {
	struct proxyd_job *head, *tail;
	size_t count;
};

struct proxyd_conn {
	int id;
	PGconn *pg;
	int fd;
	enum proxyd_conn_state state;
	bool *prepared;
	struct proxyd_jobq jobs;    /* running: one lookup or a batch */
	struct proxyd_job *reading; /* whose results are arriving */
	bool preparing;             /* the statement is being prepared */
	bool prepare_failed;
	bool broken; /* SQLSTATE class 08: drop after these jobs */
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
	struct proxyd_jobq queue;  /* waiting for a connection */
	struct proxyd_jobq gather; /* writes gathering into a batch */
	uint64_t gather_timer;
	unsigned batches_running;
	uint64_t batches_done;
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

/* proxyd_jobq_push - append a job */
static void proxyd_jobq_push(struct proxyd_jobq *jq, struct proxyd_job *job)
{
	job->next = NULL;
	if (jq->tail != NULL)
		jq->tail->next = job;
	else
		jq->head = job;
	jq->tail = job;
	jq->count++;
}

/* proxyd_jobq_remove - take a job out (the head: prev NULL) */
static void proxyd_jobq_remove(struct proxyd_jobq *jq, struct proxyd_job *prev,
			       struct proxyd_job *job)
{
	if (prev != NULL)
		prev->next = job->next;
	else
		jq->head = job->next;
	if (jq->tail == job)
		jq->tail = prev;
	job->next = NULL;
	jq->count--;
}

/* proxyd_jobq_unlink - take job out of jq if it is there */
static bool proxyd_jobq_unlink(struct proxyd_jobq *jq, struct proxyd_job *job)
{
	struct proxyd_job *prev = NULL, *j;

	for (j = jq->head; j != NULL; prev = j, j = j->next) {
		if (j == job) {
			proxyd_jobq_remove(jq, prev, j);
			return true;
		}
	}
	return false;
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

/* proxyd_db_fail_all - every job of jq: LOOKUP_RETRY */
static void proxyd_db_fail_all(struct proxyd_jobq *jq)
{
	struct proxyd_job *job;

	while ((job = jq->head) != NULL) {
		proxyd_jobq_remove(jq, NULL, job);
		job->conn = NULL;
		proxyd_db_complete(job, LOOKUP_RETRY, NULL);
	}
}

/* proxyd_db_fail_queue - every waiting job: LOOKUP_RETRY */
static void proxyd_db_fail_queue(void)
{
	if (db.gather_timer != 0)
		ev_timer_cancel(db.loop, db.gather_timer);
	db.gather_timer = 0;
	proxyd_db_fail_all(&db.gather);
	proxyd_db_fail_all(&db.queue);
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

/* proxyd_db_batch_end - a connection's jobs are off it (answered or
 * about to be): a write batch is no longer running */
static void proxyd_db_batch_end(struct proxyd_conn *c)
{
	if (c->jobs.head != NULL && c->jobs.head->q->batched) {
		db.batches_running--;
		db.batches_done++;
	}
}

/* proxyd_db_down - close a connection; its jobs get LOOKUP_RETRY */
static void proxyd_db_down(struct proxyd_conn *c, const char *reason)
{
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
	c->reading = NULL;
	proxyd_db_batch_end(c);
	proxyd_db_fail_all(&c->jobs);
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

/* proxyd_db_send - the next step: prepare the statement (once per
 * connection), or send the jobs in one pipeline */
static void proxyd_db_send(struct proxyd_conn *c)
{
	const struct proxyd_query *q = c->jobs.head->q;
	struct proxyd_job *job;
	Oid types[PROXYD_PARAMS_MAX];
	char name[16];
	int i, ok;

	snprintf(name, sizeof(name), "p%d", q->index);
	strbuf_reset(&c->value);
	if (!c->prepared[q->index]) {
		for (i = 0; i < q->nparams; i++)
			types[i] = PROXYD_TEXTOID;
		c->preparing = true;
		c->prepare_failed = false;
		ok = PQsendPrepare(c->pg, name, q->sql, q->nparams, types);
	} else {
		c->preparing = false;
		c->reading = c->jobs.head;
		ok = PQenterPipelineMode(c->pg);
		for (job = c->jobs.head; ok && job != NULL; job = job->next) {
			job->status = LOOKUP_NOKEY;
			job->failed = false;
			ok = PQsendQueryPrepared(
			    c->pg, name, q->nparams,
			    (const char *const *)job->params, NULL, NULL, 0);
		}
		ok = ok && PQpipelineSync(c->pg);
	}
	if (!ok) {
		proxyd_db_down(
		    c, proxyd_db_trim(&c->error, PQerrorMessage(c->pg)));
		return;
	}
	proxyd_db_flush(c);
}

/* proxyd_db_failed - a statement failed: log the server's message */
static void proxyd_db_failed(struct proxyd_conn *c, PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	if (state != NULL && strncmp(state, "08", 2) == 0)
		c->broken = true;
	/* The server's message may quote the key: escaped. */
	log_warn("table %s: %s failed: %s", c->jobs.head->q->name,
		 c->preparing ? "prepare" : "query",
		 log_esc(proxyd_db_trim(&c->error, PQresultErrorMessage(res))));
}

/* proxyd_db_take - fold one PGresult into the answer of job */
static void proxyd_db_take(struct proxyd_conn *c, struct proxyd_job *job,
			   PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);
	int rows, cols, r, k;

	if (st == PGRES_PIPELINE_ABORTED) {
		job->failed = true;
		return;
	}
	if (st == PGRES_COMMAND_OK) {
		const char *n = PQcmdTuples(res);

		job->status = (*n == '\0' || strcmp(n, "0") != 0)
				  ? LOOKUP_OK
				  : LOOKUP_NOKEY;
		return;
	}
	if (st != PGRES_TUPLES_OK) {
		job->failed = true;
		proxyd_db_failed(c, res);
		return;
	}
	rows = PQntuples(res);
	if (job->q->batched) { /* a write with RETURNING: no value */
		job->status = rows > 0 ? LOOKUP_OK : LOOKUP_NOKEY;
		return;
	}
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
		log_warn("table %s: answer longer than %d bytes", job->q->name,
			 PROXYD_VALUE_MAX);
		job->failed = true;
		return;
	}
	job->status = c->value.len > 0 ? LOOKUP_OK : LOOKUP_NOKEY;
}

/* proxyd_db_finish - the connection's jobs have their results (or the
 * prepare failed): answer them all, then take the next ones */
static void proxyd_db_finish(struct proxyd_conn *c, bool failed)
{
	struct proxyd_jobq done = c->jobs;
	struct proxyd_job *job;
	bool lost;

	for (job = done.head; job != NULL; job = job->next)
		failed |= job->failed;
	proxyd_db_batch_end(c);
	memset(&c->jobs, 0, sizeof(c->jobs));
	c->reading = NULL;
	lost = c->broken || (!c->preparing && PQexitPipelineMode(c->pg) != 1) ||
	       PQstatus(c->pg) != CONNECTION_OK;
	/* Still CONN_BUSY: a job submitted by a callback waits. */
	while ((job = done.head) != NULL) {
		proxyd_jobq_remove(&done, NULL, job);
		job->conn = NULL;
		if (failed)
			proxyd_db_complete(job, LOOKUP_RETRY, NULL);
		else
			proxyd_db_complete(
			    job, job->status,
			    job->status == LOOKUP_OK ? c->value.data : NULL);
	}
	c->state = CONN_READY;
	if (lost) {
		c->broken = false;
		proxyd_db_down(c, "connection lost");
		return;
	}
	proxyd_db_dispatch();
}

/* proxyd_db_result - one PGresult (NULL: the end of one statement's) */
static void proxyd_db_result(struct proxyd_conn *c, PGresult *res)
{
	if (c->preparing) {
		if (res == NULL && c->prepare_failed) {
			proxyd_db_finish(c, true);
		} else if (res == NULL) {
			c->prepared[c->jobs.head->q->index] = true;
			proxyd_db_send(c);
		} else if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			c->prepare_failed = true;
			proxyd_db_failed(c, res);
		}
		return;
	}
	if (res == NULL) {
		if (c->reading != NULL)
			c->reading = c->reading->next;
	} else if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
		proxyd_db_finish(c, false);
	} else if (c->reading != NULL) {
		proxyd_db_take(c, c->reading, res);
	}
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
		res = PQgetResult(c->pg);
		proxyd_db_result(c, res);
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

/* proxyd_db_dispatch - give waiting jobs to idle connections: a
 * lookup alone, a write with the writes of its query waiting behind */
static void proxyd_db_dispatch(void)
{
	size_t i;

	for (i = 0; i < db.nconns && db.queue.head != NULL; i++) {
		struct proxyd_conn *c = &db.conns[i];
		struct proxyd_job *job, *prev, *next;

		if (c->state != CONN_READY)
			continue;
		job = db.queue.head;
		proxyd_jobq_remove(&db.queue, NULL, job);
		proxyd_jobq_push(&c->jobs, job);
		job->conn = c;
		for (prev = NULL, job = db.queue.head;
		     c->jobs.head->q->batched && job != NULL &&
		     c->jobs.count < PROXYD_BATCH_MAX;
		     job = next) {
			next = job->next;
			if (job->q != c->jobs.head->q) {
				prev = job;
				continue;
			}
			proxyd_jobq_remove(&db.queue, prev, job);
			proxyd_jobq_push(&c->jobs, job);
			job->conn = c;
		}
		if (c->jobs.head->q->batched)
			db.batches_running++;
		c->state = CONN_BUSY;
		proxyd_db_send(c);
	}
}

/* proxyd_db_release - the gathered writes join the queue */
static void proxyd_db_release(void)
{
	struct proxyd_job *job;

	if (db.gather_timer != 0)
		ev_timer_cancel(db.loop, db.gather_timer);
	db.gather_timer = 0;
	while ((job = db.gather.head) != NULL) {
		proxyd_jobq_remove(&db.gather, NULL, job);
		proxyd_jobq_push(&db.queue, job);
	}
	proxyd_db_dispatch();
}

/* proxyd_db_gathered - the gathering time is over */
static void proxyd_db_gathered(struct ev_loop *loop, void *ctx)
{
	(void)loop;
	(void)ctx;
	db.gather_timer = 0;
	proxyd_db_release();
}

/* proxyd_db_job_timeout - a job's deadline passed */
static void proxyd_db_job_timeout(struct ev_loop *loop, void *ctx)
{
	struct proxyd_job *job = ctx;

	(void)loop;
	job->timer = 0;
	if (job->conn != NULL) {
		log_warn("table %s: query timeout after %lld ms", job->q->name,
			 db.conf->query_timeout);
		proxyd_db_down(job->conn, "closed after a query timeout");
		return;
	}
	if (!proxyd_jobq_unlink(&db.queue, job))
		(void)proxyd_jobq_unlink(&db.gather, job);
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
	if (!q->batched) {
		proxyd_jobq_push(&db.queue, job);
		proxyd_db_dispatch();
		return;
	}
	proxyd_jobq_push(&db.gather, job);
	if (db.gather.count >= PROXYD_BATCH_MAX)
		proxyd_db_release();
	else if (db.gather_timer == 0)
		db.gather_timer = ev_timer_add(db.loop, db.conf->quota_batch_ms,
					       proxyd_db_gathered, NULL);
}

/* proxyd_db_batches_done - write batches finished so far; *running
 * (unless NULL): whether one is at the database now */
uint64_t proxyd_db_batches_done(bool *running)
{
	if (running != NULL)
		*running = db.batches_running > 0;
	return db.batches_done;
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
