/*
 * NAME
 *	master_status - status pipes and listener watching
 * SYNOPSIS
 *	see master.h
 * DESCRIPTION
 *	Every process of a service writes struct server_status records
 *	(pid, busy or idle) to the service's status pipe; they are small
 *	and fixed, so each write is atomic and reads return whole records.
 *	master_status_cb() keeps each service's count of idle processes.
 *	A process that reports "gone" (it winds down after it could not
 *	reopen the maillog) is retired: it no longer counts towards
 *	maxproc, and a service_start=always service gets a successor.
 *	Records from unknown or retired processes are ignored.
 *
 *	master watches a service's listener only while the service has no
 *	idle process, is below maxproc, is not throttled and master is not
 *	stopping (as Postfix's master does): a waiting connection then
 *	means nobody can take it, and starts exactly one process, which
 *	counts as idle until it reports busy. Before it starts one, master
 *	reads the status pipe: a process that finished its client a moment
 *	ago may have said so, and then takes the waiting client itself.
 * DIAGNOSTICS
 *	A failing read of a status pipe is a warning.
 * SEE ALSO
 *	master.h, lib/server.h
 */
#include "sys_defs.h"

#include <errno.h>
#include <unistd.h>

#include "event.h"
#include "log.h"
#include "server.h"

#include "master.h"

/* master_proc_find - the process with this pid, or NULL */
static struct master_proc *master_proc_find(struct master *m, pid_t pid)
{
	struct master_proc *proc;

	for (proc = m->procs; proc != NULL; proc = proc->next)
		if (proc->pid == pid)
			return proc;
	return NULL;
}

/* master_status_apply - one record: idle or busy */
static void master_status_apply(struct master *m, struct master_service *svc,
				const struct server_status *st)
{
	struct master_proc *proc = master_proc_find(m, (pid_t)st->pid);

	if (proc == NULL || proc->svc != svc)
		return;
	if (st->state == SERVER_STATUS_IDLE && !proc->avail) {
		proc->avail = true;
		svc->avail++;
	} else if (st->state == SERVER_STATUS_BUSY && proc->avail) {
		proc->avail = false;
		svc->avail--;
		proc->uses++;
	} else if (st->state == SERVER_STATUS_GONE) {
		if (proc->avail)
			svc->avail--;
		proc->avail = false;
		proc->svc = NULL; /* only its exit is noted now */
		svc->total--;
		master_ensure(m, svc);
	}
}

/* master_status_cb - read the records waiting in a status pipe */
static void master_status_cb(struct ev_loop *loop, int fd, int events,
			     void *ctx)
{
	struct master_service *svc = ctx;
	struct server_status st[64];
	ssize_t n;
	size_t i;

	(void)loop;
	(void)events;
	n = read(fd, st, sizeof(st));
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			log_warn("service %s: read status: %m", svc->name);
		return;
	}
	for (i = 0; i < (size_t)n / sizeof(st[0]); i++)
		master_status_apply(svc->master, svc, &st[i]);
	master_listen_update(svc->master, svc);
}

/* master_status_watch - read a service's status pipe from the loop */
void master_status_watch(struct master *m, struct master_service *svc)
{
	ev_fd_set(m->loop, svc->status_fd, EV_READ, master_status_cb, svc);
}

/* master_listen_cb - a client waits and nobody is idle: start one */
static void master_listen_cb(struct ev_loop *loop, int fd, int events,
			     void *ctx)
{
	struct master_service *svc = ctx;

	(void)fd;
	(void)events;
	/* A process that has just finished its client may have said so
	 * already: its record waits in the status pipe, and the client is
	 * its next one. Read the pipe first; start a process only when
	 * nobody is idle even then. */
	master_status_cb(loop, svc->status_fd, EV_READ, svc);
	if (svc->avail == 0)
		master_spawn(svc->master, svc);
	master_listen_update(svc->master, svc);
}

/* master_listen_update - watch the listener exactly when we should */
void master_listen_update(struct master *m, struct master_service *svc)
{
	bool want = !m->stopping && !svc->throttled && svc->listen_fd >= 0 &&
		    svc->avail == 0 &&
		    (svc->maxproc == 0 ||
		     svc->total < (unsigned long long)svc->maxproc);

	if (want && !svc->watching) {
		ev_fd_set(m->loop, svc->listen_fd, EV_READ, master_listen_cb,
			  svc);
		svc->watching = true;
	} else if (!want && svc->watching) {
		master_listen_stop(m, svc);
	}
}

/* master_listen_stop - stop watching a listener */
void master_listen_stop(struct master *m, struct master_service *svc)
{
	if (svc->watching && svc->listen_fd >= 0)
		ev_fd_del(m->loop, svc->listen_fd);
	svc->watching = false;
}

/* master_update_all - after start-up or reload: every service */
void master_update_all(struct master *m)
{
	struct master_service *svc;

	for (svc = m->services; svc != NULL; svc = svc->next) {
		master_ensure(m, svc);
		master_listen_update(m, svc);
	}
}
