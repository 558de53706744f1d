/*
 * NAME
 *	qmgr_queue - the queue directories and the life of a message
 * SYNOPSIS
 *	see qmgr.h
 * DESCRIPTION
 *	State lives in the queue directory alone; memory is a cache of
 *	the active set. On start qmgr takes every file left in active/
 *	(a previous life was working on them), then incoming/, then the
 *	due files of deferred/. hold/ is left alone. A message is taken
 *	while fewer than qmgr_message_active_limit are in memory; the
 *	rest wait where they are (backlog) and are taken as soon as
 *	messages finish.
 *
 *	Picking up: rename incoming/ID -> active/ID (not fsynced: the
 *	file carries its own status records, so whichever directory a
 *	crash leaves it in, it is picked up again with what was
 *	delivered), open it read-write, validate it whole
 *	with qfile_read(); a file that fails is renamed to corrupt/ and
 *	logged, never delivered in part (so is a name that cannot be
 *	opened as a file: a symlink, a directory, a socket). Recipients whose status record
 *	says done or bounced are skipped, so a restart re-delivers only
 *	what was not recorded. Logged: "QID: from=<s>, size=N, nrcpt=N
 *	(queue active)".
 *
 *	Recording (qmgr_record()): delivered -> DONE; temporary failure
 *	-> PENDING with attempts + 1, next_try and the DSN; permanent
 *	failure -> kept in memory until the bounce daemon has queued the
 *	notification, then BOUNCED. The caller fdatasyncs once per job.
 *
 *	Finishing (all jobs of the message over): failed recipients go
 *	to the bounce daemon (a null-sender message's failures are
 *	dropped with a log line: a bounce never bounces); a message past
 *	maximal_queue_lifetime (bounce_queue_lifetime for the null
 *	sender) has its deferred recipients bounced too ("status=expired,
 *	returned to sender"); then the file is removed ("QID: removed")
 *	when every recipient is done or bounced, moved to hold/ when the
 *	administrator asked for it, or moved to deferred/ with its
 *	modification time set to the next try: now + minimal_backoff_time
 *	doubled per attempt, at most maximal_backoff_time (Postfix keeps
 *	the same clock in the file's time stamp).
 *
 *	deferred/ is scanned every queue_run_delay for files whose time
 *	has come; `postern queue flush` sets the time of every deferred
 *	file (or one) to now and scans at once.
 * DIAGNOSTICS
 *	Corrupt files: "QID: corrupt queue file: REASON: moved to
 *	corrupt/". File-system errors are warnings; the file stays where
 *	it is and is tried again later.
 * SEE ALSO
 *	lib/qfile.h, docs/qmgr.md, DESIGN.md section 5
 */
#include "sys_defs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <time.h>
#include <sys/stat.h>

#include "event.h"
#include "log.h"
#include "params.h"
#include "qid.h"
#include "strbuf.h"
#include "xalloc.h"
#include "qmgr.h"

#define QMGR_TICK_MS 1000 /* incoming/ is looked at this often */

static void qmgr_msg_finish(struct qmgr *q, struct qmgr_msg *m);

/* qmgr_hash - bucket of a queue id */
static size_t qmgr_hash(const char *id)
{
	size_t h = 5381;

	while (*id)
		h = h * 33 + (unsigned char)*id++;
	return h % QMGR_HASH_SIZE;
}

/* qmgr_msg_find - the in-memory message with this id, or NULL */
struct qmgr_msg *qmgr_msg_find(struct qmgr *q, const char *id)
{
	struct qmgr_msg *m;

	for (m = q->htab[qmgr_hash(id)]; m != NULL; m = m->hnext)
		if (strcmp(m->id, id) == 0)
			return m;
	return NULL;
}

/* qmgr_msg_free - forget a message (the file is handled elsewhere) */
static void qmgr_msg_free(struct qmgr *q, struct qmgr_msg *m)
{
	struct qmgr_msg **pp;
	size_t i;

	if (m->prev != NULL)
		m->prev->next = m->next;
	else
		q->msgs = m->next;
	if (m->next != NULL)
		m->next->prev = m->prev;
	q->nmsgs--;
	for (pp = &q->htab[qmgr_hash(m->id)]; *pp != NULL; pp = &(*pp)->hnext)
		if (*pp == m) {
			*pp = m->hnext;
			break;
		}
	for (i = 0; i < m->q.nrcpt; i++) {
		free(m->r[i].reason);
		free(m->r[i].relay);
	}
	free(m->r);
	qfile_msg_release(&m->q);
	if (m->fd >= 0)
		(void)close(m->fd);
	free(m);
	if (q->backlog)
		qmgr_scan_soon(q);
}

/* qmgr_to_corrupt - move a bad file aside */
static void qmgr_to_corrupt(struct qmgr *q, int from, const char *name,
			    const char *why)
{
	log_warn("%s: corrupt queue file: %s: moved to corrupt/", name, why);
	if (renameat(q->dirfd[from], name, q->dirfd[QMGR_Q_CORRUPT], name) < 0)
		log_warn("%s: rename %s/%s -> corrupt/%s: %m", name,
			 qmgr_queue_names[from], name, name);
}

/* qmgr_log_rcpt - the one line per recipient and attempt */
void qmgr_log_rcpt(struct qmgr_msg *m, size_t i, const char *relay,
		   double t_start, double t_sent, double t_end, const char *dsn,
		   const char *status, const char *reason)
{
	const struct qfile_rcpt *r = &m->q.rcpts[i];
	struct strbuf *text = strbuf_alloc(128);
	struct strbuf *orig = strbuf_alloc(64);
	char d[16], a[16], b[16], c[16], e[16];

	qmgr_escape(text, reason);
	if (r->original != NULL && r->original[0] != '\0' &&
	    strcmp(r->original, r->address) != 0)
		(void)strbuf_printf(orig, " orig_to=<%s>,",
				    log_esc(r->original));
	qmgr_fmt_delay(d, sizeof(d), t_end - (double)m->q.arrival);
	qmgr_fmt_delay(a, sizeof(a), m->active_time - (double)m->q.arrival);
	qmgr_fmt_delay(b, sizeof(b), t_start - m->active_time);
	qmgr_fmt_delay(c, sizeof(c), t_sent - t_start);
	qmgr_fmt_delay(e, sizeof(e), t_end - t_sent);
	log_info("%s: to=<%s>,%s relay=%s, delay=%s, delays=%s/%s/%s/%s, "
		 "dsn=%s, status=%s (%s)",
		 m->id, log_esc(r->address), orig->data, relay, d, a, b, c, e,
		 dsn, status, text->data);
	strbuf_free(&text);
	strbuf_free(&orig);
}

/* qmgr_record - remember (and write) one recipient's result */
void qmgr_record(struct qmgr *q, struct qmgr_msg *m, size_t i,
		 enum qmgr_rstate st, const char *dsn, const char *reason,
		 const char *relay)
{
	struct qmgr_rcpt *r = &m->r[i];
	struct qfile_status *s = &m->q.rcpts[i].status;
	long long now = (long long)qmgr_now();
	bool write = true;

	r->state = st;
	if (dsn != NULL)
		(void)snprintf(r->dsn, sizeof(r->dsn), "%s", dsn);
	if (reason != NULL) {
		free(r->reason);
		r->reason = xstrdup(reason);
	}
	if (relay != NULL) {
		free(r->relay);
		r->relay = xstrdup(relay);
	}
	switch (st) {
	case QMGR_R_OK:
		s->state = QFILE_STATE_DONE;
		s->attempts++;
		break;
	case QMGR_R_DEFER:
		/* A delay warning once, when an attempt first finds the
		 * message older than delay_warning_time. */
		if (q->cfg->delay_warning_time > 0 && m->q.sender[0] != '\0' &&
		    qmgr_notify_wants(m->q.rcpts[i].notify, "DELAY")) {
			long long due =
			    m->q.arrival + q->cfg->delay_warning_time;
			long long prev = s->updated ? s->updated : m->q.arrival;

			if (prev < due && now >= due)
				r->warn = true;
		}
		s->state = QFILE_STATE_PENDING;
		s->attempts++;
		s->next_try = now + qmgr_backoff(q->cfg->minimal_backoff_time,
						 q->cfg->maximal_backoff_time,
						 s->attempts);
		break;
	case QMGR_R_BOUNCED:
		s->state = QFILE_STATE_BOUNCED;
		break;
	case QMGR_R_BOUNCE:
		s->attempts++;
		write = false; /* BOUNCED once the notification is queued */
		break;
	default:
		write = false;
		break;
	}
	if (!write)
		return;
	if (dsn != NULL) {
		memset(s->dsn, 0, sizeof(s->dsn));
		memcpy(s->dsn, dsn,
		       strlen(dsn) < sizeof(s->dsn) ? strlen(dsn)
						    : sizeof(s->dsn) - 1);
	}
	s->updated = now;
	if (qfile_write_status(m->fd, &m->q, i, s) < 0)
		log_warn("%s: write status of <%s>: %m", m->id,
			 log_esc(m->q.rcpts[i].address));
}

/* qmgr_msg_load - take active/NAME into memory and queue its jobs */
static void qmgr_msg_load(struct qmgr *q, const char *name)
{
	struct qmgr_msg *m;
	const char *error = NULL;
	size_t i, todo = 0;
	int fd;

	fd = openat(q->dirfd[QMGR_Q_ACTIVE], name,
		    O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && (errno == ELOOP || errno == EISDIR || errno == ENXIO)) {
		/* A symlink, a directory or a socket: never a queue file,
		 * and nothing would ever take it out of active/. */
		qmgr_to_corrupt(q, QMGR_Q_ACTIVE, name, "not a regular file");
		return;
	}
	if (fd < 0) {
		log_warn("%s: open active/%s: %m", name, name);
		return;
	}
	m = xcalloc(1, sizeof(*m));
	m->owner = q;
	m->fd = fd;
	if (qfile_read(fd, &m->q, &error) < 0 ||
	    strcmp(m->q.queue_id, name) != 0) {
		qmgr_to_corrupt(q, QMGR_Q_ACTIVE, name,
				error ? error : "queue id differs from name");
		qfile_msg_release(&m->q);
		(void)close(fd);
		free(m);
		return;
	}
	memcpy(m->id, m->q.queue_id, sizeof(m->id));
	m->active_time = qmgr_now();
	m->r = xcalloc(m->q.nrcpt ? m->q.nrcpt : 1, sizeof(*m->r));
	for (i = 0; i < m->q.nrcpt; i++) {
		int st = m->q.rcpts[i].status.state;

		m->r[i].state =
		    st == QFILE_STATE_PENDING ? QMGR_R_TODO : QMGR_R_SKIP;
		todo += st == QFILE_STATE_PENDING;
	}
	m->next = q->msgs;
	if (q->msgs != NULL)
		q->msgs->prev = m;
	q->msgs = m;
	q->nmsgs++;
	m->hnext = q->htab[qmgr_hash(m->id)];
	q->htab[qmgr_hash(m->id)] = m;
	log_info("%s: from=<%s>, size=%lld, nrcpt=%zu (queue active)", m->id,
		 log_esc(m->q.sender), (long long)m->q.content_length,
		 m->q.nrcpt);
	if (todo == 0) {
		qmgr_msg_finish(q, m);
		return;
	}
	qmgr_route_msg(q, m);
	if (m->jobs == 0)
		qmgr_msg_finish(q, m);
}

/* qmgr_scan_dir - take files of one directory while there is room */
static void qmgr_scan_dir(struct qmgr *q, int which, bool move, bool all)
{
	int dfd = dup(q->dirfd[which]);
	DIR *dir;
	struct dirent *de;
	time_t now = time(NULL);

	if (dfd < 0 || (dir = fdopendir(dfd)) == NULL) {
		log_warn("open %s/: %m", qmgr_queue_names[which]);
		if (dfd >= 0)
			(void)close(dfd);
		return;
	}
	rewinddir(dir);
	while ((de = readdir(dir)) != NULL) {
		const char *name = de->d_name;
		struct stat st;

		if (name[0] == '.')
			continue; /* ".", "..", a writer's ".tmp.ID" */
		if (qmgr_msg_find(q, name) != NULL)
			continue;
		if (!qid_valid(name)) {
			qmgr_to_corrupt(q, which, name, "not a queue id");
			continue;
		}
		if (which == QMGR_Q_DEFERRED && !all &&
		    (fstatat(q->dirfd[which], name, &st, AT_SYMLINK_NOFOLLOW) <
			 0 ||
		     st.st_mtime > now))
			continue;
		if (q->nmsgs >= q->msg_limit) {
			q->backlog = true;
			break;
		}
		if (move && renameat(q->dirfd[which], name,
				     q->dirfd[QMGR_Q_ACTIVE], name) < 0) {
			if (errno != ENOENT)
				log_warn("%s: rename %s/%s -> active/%s: %m",
					 name, qmgr_queue_names[which], name,
					 name);
			continue;
		}
		qmgr_msg_load(q, name);
	}
	closedir(dir);
}

/* qmgr_scan - active/ of a previous life, then incoming/ */
static void qmgr_scan(struct qmgr *q)
{
	bool first = !q->active_scanned;

	q->backlog = false;
	if (first) {
		qmgr_scan_dir(q, QMGR_Q_ACTIVE, false, true);
		if (q->backlog) {
			qmgr_dispatch(q);
			return;
		}
		q->active_scanned = true;
	}
	qmgr_scan_dir(q, QMGR_Q_INCOMING, true, true);
	if (first && !q->backlog)
		qmgr_scan_dir(q, QMGR_Q_DEFERRED, true, false);
	qmgr_dispatch(q);
}

/* qmgr_scan_cb - the deferred "scan soon" timer */
static void qmgr_scan_cb(struct ev_loop *loop, void *ctx)
{
	struct qmgr *q = ctx;

	(void)loop;
	q->scan_timer = 0;
	qmgr_scan(q);
}

/* qmgr_scan_soon - scan incoming/ on the next loop pass */
void qmgr_scan_soon(struct qmgr *q)
{
	if (q->scan_timer == 0)
		q->scan_timer = ev_timer_add(q->loop, 0, qmgr_scan_cb, q);
}

/* qmgr_tick_cb - look at incoming/ now and then (a wakeup may be lost) */
static void qmgr_tick_cb(struct ev_loop *loop, void *ctx)
{
	struct qmgr *q = ctx;

	(void)ev_timer_add(loop, QMGR_TICK_MS, qmgr_tick_cb, q);
	qmgr_scan_soon(q);
}

/* qmgr_deferred_cb - the queue_run_delay timer */
static void qmgr_deferred_cb(struct ev_loop *loop, void *ctx)
{
	struct qmgr *q = ctx;

	q->deferred_timer = ev_timer_add(
	    loop, (long)q->cfg->queue_run_delay * 1000, qmgr_deferred_cb, q);
	qmgr_scan_deferred(q, false);
}

/* qmgr_scan_deferred - take deferred files that are due (or all) */
void qmgr_scan_deferred(struct qmgr *q, bool all)
{
	q->backlog = false;
	qmgr_scan_dir(q, QMGR_Q_DEFERRED, true, all);
	qmgr_dispatch(q);
}

/* qmgr_move_out - close the file and move it from active/ */
static void qmgr_move_out(struct qmgr *q, struct qmgr_msg *m, int to,
			  time_t mtime)
{
	if (mtime != 0) {
		struct timespec ts[2];

		ts[0].tv_sec = ts[1].tv_sec = mtime;
		ts[0].tv_nsec = ts[1].tv_nsec = 0;
		if (futimens(m->fd, ts) < 0)
			log_warn("%s: set next try time: %m", m->id);
	}
	if (renameat(q->dirfd[QMGR_Q_ACTIVE], m->id, q->dirfd[to], m->id) < 0)
		log_warn("%s: rename active/%s -> %s/%s: %m", m->id, m->id,
			 qmgr_queue_names[to], m->id);
	qmgr_msg_free(q, m);
}

/* qmgr_remove - the message is finished: remove its file */
static void qmgr_remove(struct qmgr *q, struct qmgr_msg *m)
{
	if (unlinkat(q->dirfd[QMGR_Q_ACTIVE], m->id, 0) < 0 && errno != ENOENT)
		log_warn("%s: remove active/%s: %m", m->id, m->id);
	else
		log_info("%s: removed", m->id);
	qmgr_msg_free(q, m);
}

/* qmgr_expire - a message too old: bounce what was deferred */
static void qmgr_expire(struct qmgr *q, struct qmgr_msg *m)
{
	long long lifetime = m->q.sender[0] == '\0'
				 ? q->cfg->bounce_queue_lifetime
				 : q->cfg->maximal_queue_lifetime;
	bool any = false;
	size_t i;

	if (!qmgr_expired(m->q.arrival, (long long)qmgr_now(), lifetime))
		return;
	for (i = 0; i < m->q.nrcpt; i++) {
		struct qmgr_rcpt *r = &m->r[i];

		if (r->state != QMGR_R_DEFER)
			continue;
		r->state = QMGR_R_BOUNCE;
		if (r->dsn[0] == '\0')
			(void)snprintf(r->dsn, sizeof(r->dsn), "4.4.7");
		any = true;
	}
	if (any)
		log_info("%s: from=<%s>, status=expired, returned to sender",
			 m->id, log_esc(m->q.sender));
}

/* qmgr_msg_finish - every job is over: bounce, remove, defer or hold */
static void qmgr_msg_finish(struct qmgr *q, struct qmgr_msg *m)
{
	bool bounce = false, left = false;
	unsigned attempts = 0;
	size_t i;

	if (m->deleted) {
		qmgr_remove(q, m);
		return;
	}
	if (!m->hold)
		qmgr_expire(q, m);
	for (i = 0; i < m->q.nrcpt; i++) {
		if (m->r[i].state != QMGR_R_BOUNCE)
			continue;
		if (m->q.sender[0] != '\0' &&
		    !qmgr_notify_wants(m->q.rcpts[i].notify, "FAILURE")) {
			/* NOTIFY without FAILURE: no notice wanted */
			qmgr_record(q, m, i, QMGR_R_BOUNCED, NULL, NULL, NULL);
			if (fdatasync(m->fd) < 0)
				log_warn("%s: fdatasync: %m", m->id);
			continue;
		}
		bounce = true;
	}
	if (bounce && m->q.sender[0] == '\0') {
		for (i = 0; i < m->q.nrcpt; i++)
			if (m->r[i].state == QMGR_R_BOUNCE)
				qmgr_record(q, m, i, QMGR_R_BOUNCED, NULL, NULL,
					    NULL);
		if (fdatasync(m->fd) < 0)
			log_warn("%s: fdatasync: %m", m->id);
		log_info("%s: undeliverable mail from the null sender "
			 "discarded (a bounce never bounces)",
			 m->id);
	} else if (bounce) {
		qmgr_bounce_start(q, m, false);
		qmgr_dispatch(q);
		return;
	}
	for (i = 0; i < m->q.nrcpt && !m->hold; i++) {
		if (m->r[i].state == QMGR_R_DEFER && m->r[i].warn) {
			qmgr_bounce_start(q, m, true);
			qmgr_dispatch(q);
			return;
		}
	}
	for (i = 0; i < m->q.nrcpt; i++) {
		enum qmgr_rstate st = m->r[i].state;

		if (st == QMGR_R_DEFER || st == QMGR_R_TODO) {
			left = true;
			if (m->q.rcpts[i].status.attempts > attempts)
				attempts = m->q.rcpts[i].status.attempts;
		}
	}
	if (m->hold) {
		log_info("%s: placed on hold", m->id);
		qmgr_move_out(q, m, QMGR_Q_HOLD, 0);
	} else if (!left) {
		qmgr_remove(q, m);
	} else {
		time_t next = time(NULL) +
			      (time_t)qmgr_backoff(q->cfg->minimal_backoff_time,
						   q->cfg->maximal_backoff_time,
						   attempts ? attempts : 1);

		qmgr_move_out(q, m, QMGR_Q_DEFERRED, next);
	}
}

/*
 * qmgr_msg_will_be_removed - is the running job m's last, with every
 * recipient delivered or bounced, so the file goes when it ends
 */
bool qmgr_msg_will_be_removed(const struct qmgr_msg *m)
{
	size_t i;

	if (m->jobs != 1 || m->hold || m->deleted)
		return false;
	for (i = 0; i < m->q.nrcpt; i++)
		if (m->r[i].state != QMGR_R_OK &&
		    m->r[i].state != QMGR_R_SKIP &&
		    m->r[i].state != QMGR_R_BOUNCED)
			return false;
	return true;
}

/* qmgr_msg_done_job - one job of m is over */
void qmgr_msg_done_job(struct qmgr *q, struct qmgr_msg *m)
{
	if (m->jobs == 0)
		qmgr_msg_finish(q, m);
}

/* qmgr_find_file - which queue holds ID (not in memory): index or -1 */
static int qmgr_find_file(struct qmgr *q, const char *id)
{
	static const int order[] = {QMGR_Q_INCOMING, QMGR_Q_DEFERRED,
				    QMGR_Q_HOLD, QMGR_Q_ACTIVE};
	struct stat st;
	size_t i;

	for (i = 0; i < ARRAY_LEN(order); i++)
		if (fstatat(q->dirfd[order[i]], id, &st, AT_SYMLINK_NOFOLLOW) ==
		    0)
			return order[i];
	return -1;
}

/* qmgr_touch - make a deferred file due now */
static int qmgr_touch(struct qmgr *q, const char *id)
{
	return utimensat(q->dirfd[QMGR_Q_DEFERRED], id, NULL,
			 AT_SYMLINK_NOFOLLOW);
}

/* qmgr_flush - deferred mail (or one message) due now: 0, -1 unknown */
int qmgr_flush(struct qmgr *q, const char *id)
{
	DIR *dir;
	struct dirent *de;
	int dfd;

	if (id != NULL && *id != '\0') {
		if (!qid_valid(id))
			return -1;
		if (qmgr_touch(q, id) < 0 && qmgr_msg_find(q, id) == NULL &&
		    qmgr_find_file(q, id) < 0)
			return -1;
		qmgr_scan_deferred(q, false);
		qmgr_scan_soon(q);
		return 0;
	}
	dfd = dup(q->dirfd[QMGR_Q_DEFERRED]);
	if (dfd >= 0 && (dir = fdopendir(dfd)) != NULL) {
		rewinddir(dir);
		while ((de = readdir(dir)) != NULL)
			if (qid_valid(de->d_name))
				(void)qmgr_touch(q, de->d_name);
		closedir(dir);
	} else if (dfd >= 0) {
		(void)close(dfd);
	}
	qmgr_scan_deferred(q, false);
	qmgr_scan_soon(q);
	return 0;
}

/* qmgr_delete_one - delete one message: 0, or -1 when unknown */
static int qmgr_delete_one(struct qmgr *q, const char *id)
{
	struct qmgr_msg *m = qmgr_msg_find(q, id);
	int which;

	if (m != NULL) {
		m->deleted = true;
		if (m->jobs == 0)
			qmgr_remove(q, m);
		return 0;
	}
	which = qmgr_find_file(q, id);
	if (which < 0 || unlinkat(q->dirfd[which], id, 0) < 0)
		return -1;
	log_info("%s: removed", id);
	return 0;
}

/* qmgr_delete - delete ID, or every message for "ALL": count or -1 */
int qmgr_delete(struct qmgr *q, const char *id)
{
	static const int dirs[] = {QMGR_Q_INCOMING, QMGR_Q_ACTIVE,
				   QMGR_Q_DEFERRED, QMGR_Q_HOLD};
	struct qmgr_msg *m, *next;
	int count = 0;
	size_t i;

	if (strcmp(id, "ALL") != 0) {
		if (!qid_valid(id))
			return -1;
		return qmgr_delete_one(q, id) < 0 ? -1 : 1;
	}
	for (m = q->msgs; m != NULL; m = next) {
		next = m->next;
		if (!m->deleted) {
			count++;
			(void)qmgr_delete_one(q, m->id);
		}
	}
	for (i = 0; i < ARRAY_LEN(dirs); i++) {
		int dfd = dup(q->dirfd[dirs[i]]);
		DIR *dir;
		struct dirent *de;

		if (dfd < 0 || (dir = fdopendir(dfd)) == NULL) {
			if (dfd >= 0)
				(void)close(dfd);
			continue;
		}
		rewinddir(dir);
		while ((de = readdir(dir)) != NULL)
			if (qid_valid(de->d_name) &&
			    qmgr_msg_find(q, de->d_name) == NULL &&
			    qmgr_delete_one(q, de->d_name) == 0)
				count++;
		closedir(dir);
	}
	return count;
}

/* qmgr_hold - put a message on hold: 0, -1 unknown */
int qmgr_hold(struct qmgr *q, const char *id)
{
	struct qmgr_msg *m;
	int which;

	if (!qid_valid(id))
		return -1;
	m = qmgr_msg_find(q, id);
	if (m != NULL) {
		m->hold = true;
		return 0;
	}
	which = qmgr_find_file(q, id);
	if (which < 0)
		return -1;
	if (which == QMGR_Q_HOLD)
		return 0;
	if (renameat(q->dirfd[which], id, q->dirfd[QMGR_Q_HOLD], id) < 0)
		return -1;
	log_info("%s: placed on hold", id);
	return 0;
}

/* qmgr_release - hold/ID back to deferred/, due now: 0, -1 unknown */
int qmgr_release(struct qmgr *q, const char *id)
{
	struct qmgr_msg *m;

	if (!qid_valid(id))
		return -1;
	m = qmgr_msg_find(q, id);
	if (m != NULL) {
		m->hold = false;
		return 0;
	}
	if (renameat(q->dirfd[QMGR_Q_HOLD], id, q->dirfd[QMGR_Q_DEFERRED], id) <
	    0)
		return -1;
	(void)qmgr_touch(q, id);
	log_info("%s: released from hold", id);
	qmgr_scan_deferred(q, false);
	return 0;
}

/* qmgr_queue_init - open the directories and start the clocks */
void qmgr_queue_init(struct qmgr *q)
{
	size_t i;

	q->qdirfd =
	    open(q->cfg->queue_directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (q->qdirfd < 0)
		log_fatal("open %s: %m", q->cfg->queue_directory);
	for (i = 0; i < ARRAY_LEN(q->dirfd); i++) {
		q->dirfd[i] = openat(q->qdirfd, qmgr_queue_names[i],
				     O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (q->dirfd[i] < 0)
			log_fatal("open %s/%s: %m", q->cfg->queue_directory,
				  qmgr_queue_names[i]);
	}
	qmgr_scan_soon(q);
	(void)ev_timer_add(q->loop, QMGR_TICK_MS, qmgr_tick_cb, q);
	q->deferred_timer = ev_timer_add(
	    q->loop, (long)q->cfg->queue_run_delay * 1000, qmgr_deferred_cb, q);
}
