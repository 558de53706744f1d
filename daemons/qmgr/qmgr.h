/*
 * NAME
 *	qmgr.h - the queue manager: private interfaces
 * DESCRIPTION
 *	qmgr_queue.c owns the queue directories (scans, moves, loading
 *	and finishing messages), qmgr_route.c decides each recipient's
 *	transport and destination, qmgr_deliver.c runs delivery and
 *	bounce jobs over non-blocking connections to the agents,
 *	qmgr_ctl.c serves private/qmgr, qmgr_util.c holds the pure
 *	helpers (backoff, delay formatting) that the unit tests cover.
 */
#ifndef POSTERN_QMGR_H
#define POSTERN_QMGR_H

#include "sys_defs.h"

#include "proto_deliver.h"
#include "qfile.h"

struct server;
struct config;
struct ev_loop;
struct strbuf;
struct lookup_clnt;

#define QMGR_HASH_SIZE 4096 /* buckets of the in-memory message index */
#define QMGR_PROTOCOL "qmgr"
#define QMGR_VERSION 1
#define BOUNCE_PROTOCOL "bounce"
#define BOUNCE_VERSION 1

/* Transports. */
#define QMGR_TRANSPORT_VIRTUAL "virtual"
#define QMGR_TRANSPORT_SMTP "smtp"
#define QMGR_TRANSPORT_BOUNCE "bounce"

/* What became of one recipient in the current round. */
enum qmgr_rstate {
	QMGR_R_SKIP = 0, /* already done/bounced in the file */
	QMGR_R_TODO,     /* waiting for a job */
	QMGR_R_BUSY,     /* in a job */
	QMGR_R_OK,       /* delivered: DONE recorded */
	QMGR_R_DEFER,    /* temporary failure this round */
	QMGR_R_BOUNCE,   /* permanent failure: needs a DSN */
	QMGR_R_BOUNCED,  /* BOUNCED recorded */
};

struct qmgr_rcpt {
	enum qmgr_rstate state;
	char dsn[DELIVER_DSN_SIZE];
	char *reason; /* owned; for the DSN */
	char *relay;  /* owned; for the DSN */
	bool warn;    /* a delay warning is due */
};

struct qmgr;

struct qmgr_msg {
	char id[QID_SIZE];
	struct qmgr *owner;
	int fd; /* active/ID, O_RDWR */
	struct qfile_msg q;
	struct qmgr_rcpt *r; /* one per q.rcpts */
	double active_time;  /* when qmgr picked it up */
	unsigned jobs;       /* jobs not finished */
	bool deleted;        /* remove when the jobs are done */
	bool hold;           /* move to hold/ when the jobs are done */
	bool bouncing;       /* a bounce job is running */
	struct qmgr_msg *prev, *next;
	struct qmgr_msg *hnext; /* hash chain */
};

enum qmgr_job_kind {
	QMGR_JOB_DELIVER,
	QMGR_JOB_BOUNCE,
};

enum qmgr_job_state {
	QMGR_JOB_QUEUED,
	QMGR_JOB_HELLO,
	QMGR_JOB_REPLY,
};

struct qmgr_dest;

struct qmgr_job {
	enum qmgr_job_kind kind;
	enum qmgr_job_state state;
	struct qmgr_msg *msg;
	struct qmgr_dest *dest;
	size_t n;
	size_t idx[DELIVER_RCPT_MAX]; /* recipient indices in msg */
	int sock;
	struct strbuf *inbuf;
	uint64_t timer;
	bool delayed;          /* a delay warning, not a bounce */
	bool reused;           /* on a parked agent connection */
	unsigned uses;         /* requests the connection carried before */
	double t_start;        /* connect began */
	double t_sent;         /* request sent */
	struct qmgr_job *next; /* in the destination's queue */
};

/* An idle connection to a delivery agent, kept for the next job. */
struct qmgr_conn {
	char *transport;
	int fd;
	unsigned uses; /* requests it has carried */
	double since;  /* parked at */
	struct qmgr_conn *next;
};

struct qmgr_dest {
	char *name;      /* "virtual:example.com" */
	char *transport; /* "virtual", "smtp", "bounce" */
	unsigned active; /* jobs running */
	unsigned limit;
	struct qmgr_job *head, *tail;
	struct qmgr_dest *next;
};

struct qmgr {
	struct server *srv;
	const struct config *cfg;
	struct ev_loop *loop;
	int qdirfd;                            /* queue_directory */
	int dirfd[5];                          /* QMGR_Q_* */
	struct qmgr_msg *msgs;                 /* in memory (active) */
	struct qmgr_msg *htab[QMGR_HASH_SIZE]; /* the same, by id */
	size_t nmsgs;
	size_t msg_limit;
	struct qmgr_dest *dests;
	unsigned running; /* jobs connected to an agent */
	unsigned running_limit;
	struct lookup_clnt *lookup;
	uint64_t scan_timer;     /* incoming/active scan pending */
	uint64_t deferred_timer; /* next deferred scan */
	uint64_t retry_timer;    /* dispatch retry after EAGAIN */
	bool backlog;            /* files left behind by a full scan */
	bool active_scanned;     /* active/ of a previous life done */
	struct qmgr_conn *idle;  /* parked agent connections */
	uint64_t idle_timer;     /* closes parked connections */
};

/* Queue subdirectories. */
enum qmgr_queue {
	QMGR_Q_INCOMING,
	QMGR_Q_ACTIVE,
	QMGR_Q_DEFERRED,
	QMGR_Q_HOLD,
	QMGR_Q_CORRUPT,
};

extern const char *const qmgr_queue_names[5];

/* qmgr_util.c: pure helpers. */
long long qmgr_backoff(long long min_backoff, long long max_backoff,
		       unsigned attempts);
void qmgr_fmt_delay(char *buf, size_t size, double seconds);
double qmgr_now(void);
bool qmgr_expired(long long arrival, long long now, long long lifetime);
bool qmgr_notify_wants(const char *notify, const char *what);
const char *qmgr_domain_of(const char *addr);
void qmgr_escape(struct strbuf *out, const char *s);

/* qmgr_queue.c */
void qmgr_queue_init(struct qmgr *q);
void qmgr_scan_soon(struct qmgr *q);
void qmgr_scan_deferred(struct qmgr *q, bool all);
void qmgr_msg_done_job(struct qmgr *q, struct qmgr_msg *m);
bool qmgr_msg_will_be_removed(const struct qmgr_msg *m);
struct qmgr_msg *qmgr_msg_find(struct qmgr *q, const char *id);
int qmgr_flush(struct qmgr *q, const char *id);
int qmgr_delete(struct qmgr *q, const char *id);
int qmgr_hold(struct qmgr *q, const char *id);
int qmgr_release(struct qmgr *q, const char *id);
void qmgr_record(struct qmgr *q, struct qmgr_msg *m, size_t i,
		 enum qmgr_rstate st, const char *dsn, const char *reason,
		 const char *relay);
void qmgr_log_rcpt(struct qmgr_msg *m, size_t i, const char *relay,
		   double t_start, double t_sent, double t_end, const char *dsn,
		   const char *status, const char *reason);

/* qmgr_route.c */
void qmgr_route_msg(struct qmgr *q, struct qmgr_msg *m);
struct qmgr_dest *qmgr_dest_get(struct qmgr *q, const char *transport,
				const char *nexthop);

/* qmgr_deliver.c */
void qmgr_job_enqueue(struct qmgr *q, struct qmgr_job *job);
void qmgr_dispatch(struct qmgr *q);
void qmgr_bounce_start(struct qmgr *q, struct qmgr_msg *m, bool delayed);

/* qmgr_ctl.c */
void qmgr_ctl_serve(struct server *srv, int fd);
void qmgr_ctl_wind_down(struct server *srv);

#endif
