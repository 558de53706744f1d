/*
 * NAME
 *	master_signals - SIGCHLD, SIGHUP, SIGUSR1, SIGTERM and SIGINT
 * SYNOPSIS
 *	see master.h
 * DESCRIPTION
 *	Signals reach master through the event loop's self-pipe, so the
 *	handlers below run in ordinary context. SIGCHLD reaps children.
 *	SIGHUP reloads the configuration. SIGUSR1 says the maillog_file
 *	was rotated: master reopens it (creating it, owned by mail_owner),
 *	points a detached master's stdout and stderr at it, logs "reopened
 *	the maillog" there and forwards SIGUSR1 to every child, which
 *	reopens the file too or, when it cannot, finishes its clients and
 *	exits so that a fresh process opens it (lib/server.c). SIGTERM and
 *	SIGINT stop master:
 *	no listener is watched any more, every child gets SIGTERM, and
 *	those still alive after MASTER_STOP_GRACE_MS get SIGKILL; the loop
 *	ends once the last one is reaped, and main() then closes the
 *	listeners, stops the embedded database and removes the pid file.
 * DIAGNOSTICS
 *	"terminating on signal N"; "reload -- ..." from master_reload().
 * SEE ALSO
 *	master.h, lib/event.h
 */
#include "sys_defs.h"

#include <signal.h>

#include "event.h"
#include "log.h"

#include "master.h"

/* master_kill_cb - the grace period is over: SIGKILL what is left */
static void master_kill_cb(struct ev_loop *loop, void *ctx)
{
	struct master *m = ctx;

	(void)loop;
	m->kill_timer = 0;
	if (m->procs != NULL) {
		log_warn("processes still running after %d seconds: killing "
			 "them",
			 MASTER_STOP_GRACE_MS / 1000);
		master_kill_all(m, SIGKILL);
	}
}

/* master_stop - stop every service process, then end the loop */
void master_stop(struct master *m, int signo)
{
	struct master_service *svc;

	if (m->stopping)
		return;
	log_info("terminating on signal %d", signo);
	m->stopping = true;
	for (svc = m->services; svc != NULL; svc = svc->next) {
		master_listen_stop(m, svc);
		if (svc->throttle_timer != 0) {
			ev_timer_cancel(m->loop, svc->throttle_timer);
			svc->throttle_timer = 0;
		}
	}
	master_kill_all(m, SIGTERM);
	if (m->procs == NULL)
		ev_stop(m->loop);
	else
		m->kill_timer = ev_timer_add(m->loop, MASTER_STOP_GRACE_MS,
					     master_kill_cb, m);
}

/* master_rotate - SIGUSR1: the maillog was rotated */
static void master_rotate(struct master *m)
{
	if (*m->cfg.maillog_file == '\0' || m->stopping)
		return;
	if (log_reopen() == 0) {
		master_log_owner(m);
		if (!m->foreground)
			master_log_stdio(m);
		log_info("reopened the maillog %s", m->cfg.maillog_file);
	}
	master_kill_all(m, SIGUSR1);
}

/* master_sig_cb - dispatch a caught signal */
static void master_sig_cb(struct ev_loop *loop, int signo, void *ctx)
{
	struct master *m = ctx;

	(void)loop;
	switch (signo) {
	case SIGCHLD:
		master_reap(m);
		break;
	case SIGHUP:
		if (!m->stopping)
			master_reload(m);
		break;
	case SIGUSR1:
		master_rotate(m);
		break;
	default:
		master_stop(m, signo);
		break;
	}
}

/* master_signals_init - catch the signals master acts on */
void master_signals_init(struct master *m)
{
	(void)signal(SIGPIPE, SIG_IGN);
	ev_signal(m->loop, SIGCHLD, master_sig_cb, m);
	ev_signal(m->loop, SIGHUP, master_sig_cb, m);
	ev_signal(m->loop, SIGUSR1, master_sig_cb, m);
	ev_signal(m->loop, SIGTERM, master_sig_cb, m);
	ev_signal(m->loop, SIGINT, master_sig_cb, m);
}
