/*
 * NAME
 *	master_spawn - starting, reaping and throttling service processes
 * SYNOPSIS
 *	see master.h
 * DESCRIPTION
 *	master_spawn() forks one process for a service. The child resets
 *	its signals, puts the service's listener on fd 3, the write end of
 *	the service's status pipe on fd 4 and the read end of master's
 *	liveness pipe on fd 5 (lib/server.h), adds service_nice to its
 *	niceness, and executes the program with the argv built from
 *	services.conf. It starts with master's identity; server_main()
 *	drops privileges itself. A new process counts as idle until it
 *	says otherwise, so master stops watching the listener until it
 *	reports busy.
 *
 *	master_reap() collects exited children. An abnormal exit (a signal,
 *	or a non-zero exit status) that master did not cause is logged as
 *	a warning and throttles the service: no new process for 1 second,
 *	then 2, 4, ... up to service_throttle_time. The delay starts over
 *	at 1 second after a process has exited cleanly having served a
 *	client, or when no crash happened for service_throttle_time after
 *	the last throttle ended. Processes that are already running keep
 *	serving while the service is throttled. A clean exit within
 *	MASTER_QUICK_EXIT_MS of the start, without a client, counts as a
 *	crash too (a program that exits 0 at once would otherwise be
 *	restarted in a loop).
 *
 *	master_retire() detaches a service's processes (on reload) and
 *	sends them SIGHUP: they finish their clients and exit; their exit
 *	is only noted.
 * DIAGNOSTICS
 *	"service NAME: process PID killed by signal N", "service NAME:
 *	process PID exit status N", "service NAME: throttling for N
 *	seconds" (warnings). A failing fork throttles the service too.
 * SEE ALSO
 *	master.h, lib/server.h, docs/master.md
 */
#include "sys_defs.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "event.h"
#include "log.h"
#include "server.h"
#include "xalloc.h"

#include "master.h"

/* master_child_nice - lower (or raise) the child's priority by
 * service_nice; a refusal (raising it without privilege) is logged and
 * the service runs at master's priority */
static void master_child_nice(const struct master_service *svc)
{
	int cur;

	if (svc->nice == 0)
		return;
	errno = 0;
	cur = getpriority(PRIO_PROCESS, 0);
	if (cur == -1 && errno != 0) {
		log_warn("service %s: getpriority: %m", svc->name);
		return;
	}
	if (setpriority(PRIO_PROCESS, 0, cur + svc->nice) < 0)
		log_warn("service %s: set niceness %d: %m", svc->name,
			 cur + svc->nice);
}

/* master_child - in the child: set up fds 3, 4, 5 and exec */
static NORETURN void master_child(struct master *m,
				  const struct master_service *svc)
{
	static const int sigs[] = {SIGCHLD, SIGHUP, SIGTERM, SIGINT, SIGPIPE};
	int src[3] = {svc->listen_fd, svc->status_wr, m->live_rd};
	int tmp[3];
	sigset_t none;
	size_t i;

	/* Handlers first, then unblock: a signal meant for this child must
	 * never reach master's self-pipe, which the child still shares. */
	for (i = 0; i < ARRAY_LEN(sigs); i++)
		(void)signal(sigs[i], SIG_DFL);
	/* Ignored across exec until the service catches it: a maillog
	 * rotation must not kill a process that is still starting. */
	(void)signal(SIGUSR1, SIG_IGN);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	/* A process group of its own: Ctrl-C on `postern start -f` reaches
	 * master alone, which then stops its children in order. */
	(void)setpgid(0, 0);

	/* Move the sources out of the way of 3..5 before placing them. */
	for (i = 0; i < 3; i++) {
		tmp[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 10);
		if (tmp[i] < 0) {
			log_error("service %s: dup: %m", svc->name);
			_exit(127);
		}
	}
	for (i = 0; i < 3; i++) {
		if (dup2(tmp[i], SERVER_LISTEN_FD + (int)i) < 0) {
			log_error("service %s: dup2: %m", svc->name);
			_exit(127);
		}
	}
	master_child_nice(svc);
	execv(svc->path, svc->argv);
	log_error("service %s: execute %s: %m", svc->name, svc->path);
	_exit(127);
}

/* master_spawn - start one process for a service, if allowed */
void master_spawn(struct master *m, struct master_service *svc)
{
	struct master_proc *proc;
	sigset_t all, orig;
	pid_t pid;

	if (m->stopping || svc->throttled || svc->listen_fd < 0)
		return;
	if (svc->maxproc > 0 && svc->total >= (unsigned long long)svc->maxproc)
		return;
	sigfillset(&all);
	(void)sigprocmask(SIG_BLOCK, &all, &orig);
	pid = fork();
	if (pid == 0)
		master_child(m, svc);
	(void)sigprocmask(SIG_SETMASK, &orig, NULL);
	if (pid < 0) {
		log_warn("service %s: fork: %m", svc->name);
		master_throttle(m, svc);
		return;
	}
	proc = xcalloc(1, sizeof(*proc));
	proc->pid = pid;
	proc->svc = svc;
	proc->svc_name = xstrdup(svc->name);
	proc->avail = true;
	proc->started_ms = ev_now_ms();
	proc->next = m->procs;
	m->procs = proc;
	svc->total++;
	svc->avail++;
	log_debug("service %s: started process %ld", svc->name, (long)pid);
	master_listen_update(m, svc);
}

/* master_unthrottle_cb - the throttle delay is over */
static void master_unthrottle_cb(struct ev_loop *loop, void *ctx)
{
	struct master_service *svc = ctx;

	(void)loop;
	svc->throttle_timer = 0;
	svc->throttled = false;
	master_ensure(svc->master, svc);
	master_listen_update(svc->master, svc);
}

/* master_throttle - no new process for a while, doubling each time */
void master_throttle(struct master *m, struct master_service *svc)
{
	int64_t now = ev_now_ms();
	long long delay;

	if (svc->throttled || m->stopping)
		return;
	if (svc->throttle_delay == 0 ||
	    now - svc->throttle_end_ms > svc->throttle_max * 1000)
		delay = 1;
	else
		delay = svc->throttle_delay * 2;
	if (delay > svc->throttle_max)
		delay = svc->throttle_max;
	svc->throttle_delay = delay;
	svc->throttle_end_ms = now + delay * 1000;
	svc->throttled = true;
	svc->throttle_timer = ev_timer_add(m->loop, (long)(delay * 1000),
					   master_unthrottle_cb, svc);
	log_warn("service %s: throttling for %lld seconds", svc->name, delay);
	master_listen_update(m, svc);
}

/* master_ensure - keep one process of a service_start=always service */
void master_ensure(struct master *m, struct master_service *svc)
{
	if (svc->always && svc->total == 0)
		master_spawn(m, svc);
}

/* master_say - log at a level chosen at run time */
static PRINTFLIKE(2, 3) void master_say(enum log_level level, const char *fmt,
					...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

/* master_exited - account for and log one child's exit */
static void master_exited(struct master *m, struct master_proc *proc,
			  int status)
{
	struct master_service *svc = proc->svc;
	bool abnormal = WIFSIGNALED(status) ||
			(WIFEXITED(status) && WEXITSTATUS(status) != 0);
	bool quiet = proc->signalled || m->stopping;

	if (svc != NULL) {
		svc->total--;
		if (proc->avail)
			svc->avail--;
	}
	if (abnormal && !quiet) {
		/* A retired process was asked to go: say it, don't warn. */
		enum log_level lv = svc ? LOG_LEVEL_WARN : LOG_LEVEL_INFO;

		if (WIFSIGNALED(status))
			master_say(
			    lv, "service %s: process %ld killed by signal %d",
			    proc->svc_name, (long)proc->pid, WTERMSIG(status));
		else
			master_say(lv, "service %s: process %ld exit status %d",
				   proc->svc_name, (long)proc->pid,
				   WEXITSTATUS(status));
		if (svc != NULL)
			master_throttle(m, svc);
	} else if (!abnormal && svc != NULL && !quiet && proc->uses == 0 &&
		   ev_now_ms() - proc->started_ms < MASTER_QUICK_EXIT_MS) {
		/* Exit 0 at once without a client is no way to run a
		 * service either: without this, a program that does it
		 * would be restarted in a loop. */
		log_warn("service %s: process %ld exited at once without "
			 "serving",
			 proc->svc_name, (long)proc->pid);
		master_throttle(m, svc);
	} else if (!abnormal && svc != NULL && proc->uses > 0) {
		svc->throttle_delay = 0;
	}
	if (svc != NULL) {
		master_ensure(m, svc);
		master_listen_update(m, svc);
	}
}

/* master_reap - collect every exited child */
void master_reap(struct master *m)
{
	struct master_proc *proc, **pp;
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (pp = &m->procs; (proc = *pp) != NULL; pp = &proc->next)
			if (proc->pid == pid)
				break;
		if (proc == NULL)
			continue;
		*pp = proc->next;
		master_exited(m, proc, status);
		free(proc->svc_name);
		free(proc);
	}
	if (pid < 0 && errno != ECHILD)
		log_warn("waitpid: %m");
	if (m->stopping && m->procs == NULL)
		ev_stop(m->loop);
}

/* master_retire - let a service's processes finish and exit (reload) */
void master_retire(struct master *m, struct master_service *svc)
{
	struct master_proc *proc;

	for (proc = m->procs; proc != NULL; proc = proc->next) {
		if (proc->svc != svc)
			continue;
		proc->svc = NULL;
		if (kill(proc->pid, SIGHUP) < 0 && errno != ESRCH)
			log_warn("service %s: kill -HUP %ld: %m", svc->name,
				 (long)proc->pid);
	}
	svc->total = 0;
	svc->avail = 0;
}

/* master_kill_all - send a signal to every child */
void master_kill_all(struct master *m, int signo)
{
	struct master_proc *proc;

	for (proc = m->procs; proc != NULL; proc = proc->next) {
		proc->signalled = true;
		(void)kill(proc->pid, signo);
	}
}
