/*
 * NAME
 *	qmgr - Postern's queue manager
 * SYNOPSIS
 *	qmgr -c DIR -n qmgr [-u USER] [-o name=value]...   (started by master)
 * DESCRIPTION
 *	One resident process (services.conf: `qmgr unix private/qmgr
 *	postern n 1 qmgr -o service_start=always`). It moves queue files
 *	from incoming/ to active/, keeps at most qmgr_message_active_limit
 *	messages in memory, sends each recipient to its transport
 *	(`virtual` for the virtual mailbox domains, `smtp` for the rest)
 *	with at most default_destination_concurrency_limit deliveries per
 *	destination at a time (virtual_destination_concurrency_limit for
 *	a local domain), records every result in the queue file as
 *	soon as it is known, retries temporary failures with exponential
 *	backoff (minimal_backoff_time .. maximal_backoff_time, deferred/
 *	scanned every queue_run_delay), and returns permanent failures and
 *	mail older than maximal_queue_lifetime to the sender through the
 *	bounce service. All of its state can be rebuilt from the queue
 *	directory, which it does at start.
 *
 *	private/qmgr takes wakeup (from cleanup), flush, delete, hold and
 *	release requests (from `postern queue`).
 * DIAGNOSTICS
 *	Postfix-shaped log lines: "QID: from=<s>, size=N, nrcpt=N (queue
 *	active)", one "QID: to=<r>, relay=..., delay=..., delays=a/b/c/d,
 *	dsn=X.Y.Z, status=sent|deferred|bounced (reason)" per recipient
 *	and attempt, "QID: removed".
 * SEE ALSO
 *	docs/qmgr.md, docs/ipc.md, smtp(8), bounce(8)
 */
#include "sys_defs.h"

#include <sys/resource.h>

#include "log.h"
#include "server.h"
#include "xalloc.h"
#include "qmgr.h"

#define QMGR_SPARE_FDS 200

/* qmgr_pre_init - room for one descriptor per active message */
static void qmgr_pre_init(struct server *srv)
{
	struct rlimit rl;

	(void)srv;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* qmgr_post_init - build the state from the queue directory */
static void qmgr_post_init(struct server *srv)
{
	struct qmgr *q = xcalloc(1, sizeof(*q));
	struct rlimit rl;
	size_t fds = 1024;

	q->srv = srv;
	q->cfg = &srv->cfg;
	q->loop = srv->loop;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		fds = (size_t)rl.rlim_cur;
	/* One descriptor per message, two per running job, and QMGR_SPARE_FDS
	 * for the rest: clients of private/qmgr (each cleanup process keeps
	 * one), the agents' sockets being set up, the maillog. */
	q->running_limit = fds > 400 ? (unsigned)((fds - 100) / 4) : 50;
	if (q->running_limit > 1000)
		q->running_limit = 1000;
	q->msg_limit = (size_t)srv->cfg.qmgr_message_active_limit;
	if (fds > 2 * q->running_limit + QMGR_SPARE_FDS) {
		if (q->msg_limit > fds - 2 * q->running_limit - QMGR_SPARE_FDS)
			q->msg_limit =
			    fds - 2 * q->running_limit - QMGR_SPARE_FDS;
	} else if (q->msg_limit > fds / 4) {
		q->msg_limit = fds / 4;
	}
	if (q->msg_limit < 1)
		q->msg_limit = 1;
	srv->ctx = q;
	qmgr_queue_init(q);
}

/* main - wire the queue manager to the server skeleton */
int main(int argc, char **argv)
{
	static const struct server_spec spec = {
	    .name = "qmgr",
	    .model = SERVER_MULTI,
	    .pre_init = qmgr_pre_init,
	    .post_init = qmgr_post_init,
	    .serve = qmgr_ctl_serve,
	    .wind_down = qmgr_ctl_wind_down,
	};

	server_main(argc, argv, &spec);
}
