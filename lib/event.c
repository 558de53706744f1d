/*
 * NAME
 *	event - the epoll event loop: descriptors, timers and signals
 * SYNOPSIS
 *	see event.h
 * DESCRIPTION
 *	ev_create() makes a loop; ev_free() closes it and clears the
 *	caller's pointer.
 *
 *	ev_fd_set() registers (or changes) the callback for a descriptor
 *	and the events it wants (EV_READ, EV_WRITE); events 0, like
 *	ev_fd_del(), unregisters it. The table is indexed by descriptor
 *	and grows as needed. A callback may delete or replace its own or
 *	any other registration: each registration carries a generation
 *	number in the epoll data, so an event that was already returned
 *	by epoll_wait() for a descriptor deleted since is dropped. An error
 *	or hang-up on a descriptor is reported as all the events it asked
 *	for, so the callback sees the condition on its next read or write.
 *
 *	ev_timer_add() schedules a one-shot callback in ms milliseconds
 *	and returns its id (never 0); ev_timer_cancel() removes it (an
 *	unknown or already fired id is ignored). Timers live in a binary
 *	min-heap ordered by deadline, then by id, so timers due at the same
 *	time fire in the order they were added. A timer added by a timer
 *	callback never fires in the same pass, even with ms 0.
 *
 *	ev_signal() catches a signal with sigaction(SA_RESTART); the
 *	handler only writes the signal number into a non-blocking
 *	self-pipe, and the loop reads it and calls the callback from
 *	ordinary context. A NULL callback restores the default action. Only
 *	one loop per process should catch signals (the last to call
 *	ev_signal() receives them). A forked child that has not yet called
 *	exec() or ev_signal() never writes into its parent's pipe.
 *
 *	ev_run() dispatches until ev_stop() is called (from a callback),
 *	and returns 0; it also returns 0 when there is nothing left to wait
 *	for (no descriptor and no timer). ev_now_ms() is the monotonic clock
 *	in milliseconds.
 * DIAGNOSTICS
 *	A failing epoll_ctl() on a valid request is a bug (log_panic), lack
 *	of kernel resources is log_fatal(); a failing epoll_wait() other
 *	than EINTR is log_fatal().
 */
#include "sys_defs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>

#include "event.h"
#include "log.h"
#include "xalloc.h"

#define EV_BATCH 64 /* events taken from the kernel per epoll_wait */
#define EV_NSIG 65  /* signal numbers 1..64 */

struct ev_fd_entry {
	ev_fd_cb cb;
	void *ctx;
	int events;   /* EV_READ|EV_WRITE; 0 = not registered */
	uint32_t gen; /* changes on every delete */
};

struct ev_timer {
	int64_t when; /* ev_now_ms() deadline */
	uint64_t id;
	ev_timer_cb cb;
	void *ctx;
};

struct ev_sig_entry {
	ev_signal_cb cb;
	void *ctx;
	bool caught;
};

struct ev_loop {
	int epfd;
	struct ev_fd_entry *fds;
	size_t nfds;        /* entries in fds[] */
	size_t nregistered; /* descriptors with events != 0 */
	struct ev_timer *heap;
	size_t nheap;
	size_t heap_cap;
	uint64_t next_timer_id;
	int sig_pipe[2]; /* self-pipe, -1 until the first ev_signal */
	struct ev_sig_entry sigs[EV_NSIG];
	bool stop;
};

/* Write end of the self-pipe of the loop that catches signals, and the
 * process that owns it: a child between fork and exec must not wake its
 * parent's loop with its own signals. */
static volatile sig_atomic_t ev_sig_wfd = -1;
static volatile pid_t ev_sig_pid;

/* ev_now_ms - monotonic time in milliseconds */
int64_t ev_now_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		log_panic("%s: clock_gettime: %m", __func__);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ev_create - make an event loop */
struct ev_loop *ev_create(void)
{
	struct ev_loop *loop = xcalloc(1, sizeof(*loop));

	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0)
		log_fatal("epoll_create1: %m");
	loop->next_timer_id = 1;
	loop->sig_pipe[0] = loop->sig_pipe[1] = -1;
	return loop;
}

/* ev_free - close a loop, restore its signals, clear the pointer */
void ev_free(struct ev_loop **loopp)
{
	struct ev_loop *loop = *loopp;
	int signo;

	if (loop == NULL)
		return;
	for (signo = 1; signo < EV_NSIG; signo++) {
		if (loop->sigs[signo].caught)
			ev_signal(loop, signo, NULL, NULL);
	}
	if (loop->sig_pipe[1] >= 0 && ev_sig_wfd == loop->sig_pipe[1])
		ev_sig_wfd = -1;
	if (loop->sig_pipe[0] >= 0)
		(void)close(loop->sig_pipe[0]);
	if (loop->sig_pipe[1] >= 0)
		(void)close(loop->sig_pipe[1]);
	if (close(loop->epfd) < 0)
		log_warn("close epoll descriptor: %m");
	free(loop->fds);
	free(loop->heap);
	free(loop);
	*loopp = NULL;
}

/* ev_epoll_ctl - apply one epoll change, dying on a real failure */
static int ev_epoll_ctl(struct ev_loop *loop, int op, int fd, uint32_t mask,
			uint32_t gen)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = mask;
	ev.data.u64 = (uint64_t)(unsigned)fd | ((uint64_t)gen << 32);
	if (epoll_ctl(loop->epfd, op, fd, &ev) == 0)
		return 0;
	if (errno == ENOMEM || errno == ENOSPC)
		log_fatal("epoll_ctl fd %d: %m", fd);
	return -1;
}

/* ev_fd_grow - make the descriptor table hold fd */
static void ev_fd_grow(struct ev_loop *loop, int fd)
{
	size_t n = loop->nfds ? loop->nfds : 64;

	while (n <= (size_t)fd)
		n *= 2;
	loop->fds = xreallocarray(loop->fds, n, sizeof(*loop->fds));
	memset(loop->fds + loop->nfds, 0,
	       (n - loop->nfds) * sizeof(*loop->fds));
	loop->nfds = n;
}

/* ev_fd_set - register or change the callback for a descriptor */
void ev_fd_set(struct ev_loop *loop, int fd, int events, ev_fd_cb cb, void *ctx)
{
	struct ev_fd_entry *e;
	uint32_t mask = 0;

	if (fd < 0)
		log_panic("%s: bad descriptor %d", __func__, fd);
	events &= EV_READ | EV_WRITE;
	if (events == 0) {
		ev_fd_del(loop, fd);
		return;
	}
	if (cb == NULL)
		log_panic("%s: fd %d: no callback", __func__, fd);
	if ((size_t)fd >= loop->nfds)
		ev_fd_grow(loop, fd);
	e = loop->fds + fd;
	if (events & EV_READ)
		mask |= EPOLLIN;
	if (events & EV_WRITE)
		mask |= EPOLLOUT;
	if (e->events != 0) {
		if (ev_epoll_ctl(loop, EPOLL_CTL_MOD, fd, mask, e->gen) < 0) {
			/* The descriptor was closed and reused without
			 * ev_fd_del(): the kernel has forgotten it. */
			if (errno != ENOENT ||
			    ev_epoll_ctl(loop, EPOLL_CTL_ADD, fd, mask,
					 e->gen) < 0)
				log_panic("%s: epoll_ctl MOD fd %d: %m",
					  __func__, fd);
		}
	} else {
		if (ev_epoll_ctl(loop, EPOLL_CTL_ADD, fd, mask, e->gen) < 0)
			log_panic("%s: epoll_ctl ADD fd %d: %m", __func__, fd);
		loop->nregistered++;
	}
	e->events = events;
	e->cb = cb;
	e->ctx = ctx;
}

/* ev_fd_del - unregister a descriptor (a no-op if it is not) */
void ev_fd_del(struct ev_loop *loop, int fd)
{
	struct ev_fd_entry *e;

	if (fd < 0 || (size_t)fd >= loop->nfds)
		return;
	e = loop->fds + fd;
	if (e->events == 0)
		return;
	/* EBADF or ENOENT: the caller closed it first; the kernel dropped
	 * it from the epoll set already. */
	if (ev_epoll_ctl(loop, EPOLL_CTL_DEL, fd, 0, e->gen) < 0 &&
	    errno != EBADF && errno != ENOENT)
		log_panic("%s: epoll_ctl DEL fd %d: %m", __func__, fd);
	e->events = 0;
	e->cb = NULL;
	e->ctx = NULL;
	e->gen++;
	loop->nregistered--;
}

/* ev_heap_less - whether timer a is due before timer b */
static bool ev_heap_less(const struct ev_timer *a, const struct ev_timer *b)
{
	if (a->when != b->when)
		return a->when < b->when;
	return a->id < b->id;
}

/* ev_heap_swap - exchange two heap slots */
static void ev_heap_swap(struct ev_loop *loop, size_t i, size_t j)
{
	struct ev_timer tmp = loop->heap[i];

	loop->heap[i] = loop->heap[j];
	loop->heap[j] = tmp;
}

/* ev_heap_up - restore heap order upwards from slot i */
static void ev_heap_up(struct ev_loop *loop, size_t i)
{
	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!ev_heap_less(&loop->heap[i], &loop->heap[parent]))
			break;
		ev_heap_swap(loop, i, parent);
		i = parent;
	}
}

/* ev_heap_down - restore heap order downwards from slot i */
static void ev_heap_down(struct ev_loop *loop, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1;
		size_t r = l + 1;
		size_t m = i;

		if (l < loop->nheap &&
		    ev_heap_less(&loop->heap[l], &loop->heap[m]))
			m = l;
		if (r < loop->nheap &&
		    ev_heap_less(&loop->heap[r], &loop->heap[m]))
			m = r;
		if (m == i)
			break;
		ev_heap_swap(loop, i, m);
		i = m;
	}
}

/* ev_heap_remove - take the timer in slot i out of the heap */
static void ev_heap_remove(struct ev_loop *loop, size_t i)
{
	loop->nheap--;
	if (i == loop->nheap)
		return;
	loop->heap[i] = loop->heap[loop->nheap];
	ev_heap_up(loop, i);
	ev_heap_down(loop, i);
}

/* ev_timer_add - call cb once after ms milliseconds; returns its id */
uint64_t ev_timer_add(struct ev_loop *loop, long ms, ev_timer_cb cb, void *ctx)
{
	struct ev_timer *t;
	uint64_t id;

	if (cb == NULL)
		log_panic("%s: no callback", __func__);
	if (ms < 0)
		ms = 0;
	if (loop->nheap == loop->heap_cap) {
		loop->heap_cap = loop->heap_cap ? loop->heap_cap * 2 : 16;
		loop->heap = xreallocarray(loop->heap, loop->heap_cap,
					   sizeof(*loop->heap));
	}
	id = loop->next_timer_id++;
	t = loop->heap + loop->nheap;
	t->when = ev_now_ms() + ms;
	t->id = id;
	t->cb = cb;
	t->ctx = ctx;
	loop->nheap++;
	ev_heap_up(loop, loop->nheap - 1); /* t may move */
	return id;
}

/* ev_timer_cancel - forget a pending timer (unknown ids are ignored) */
void ev_timer_cancel(struct ev_loop *loop, uint64_t id)
{
	size_t i;

	for (i = 0; i < loop->nheap; i++) {
		if (loop->heap[i].id == id) {
			ev_heap_remove(loop, i);
			return;
		}
	}
}

/* ev_sig_handler - signal context: note the signal in the self-pipe */
static void ev_sig_handler(int signo)
{
	int saved_errno = errno;
	unsigned char b = (unsigned char)signo;
	int fd = ev_sig_wfd;

	/* A full pipe already holds enough wake-ups; drop this one. */
	if (fd >= 0 && getpid() == ev_sig_pid)
		(void)!write(fd, &b, 1);
	errno = saved_errno;
}

/* ev_sig_read - loop context: run the callbacks of caught signals */
static void ev_sig_read(struct ev_loop *loop, int fd, int events, void *ctx)
{
	unsigned char buf[64];
	ssize_t n;
	ssize_t i;

	(void)events;
	(void)ctx;
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0)
			log_fatal("read signal pipe: %m");
		if (n == 0)
			log_panic("%s: signal pipe closed", __func__);
		for (i = 0; i < n; i++) {
			struct ev_sig_entry *s;

			if (buf[i] == 0 || buf[i] >= EV_NSIG)
				continue;
			s = loop->sigs + buf[i];
			if (s->cb != NULL)
				s->cb(loop, buf[i], s->ctx);
			if (loop->stop)
				return;
		}
	}
}

/* ev_sig_pipe_open - create the self-pipe and watch its read end */
static void ev_sig_pipe_open(struct ev_loop *loop)
{
	if (pipe2(loop->sig_pipe, O_NONBLOCK | O_CLOEXEC) < 0)
		log_fatal("pipe2: %m");
	ev_fd_set(loop, loop->sig_pipe[0], EV_READ, ev_sig_read, NULL);
}

/* ev_signal - run cb from the loop when signo arrives (NULL: default) */
void ev_signal(struct ev_loop *loop, int signo, ev_signal_cb cb, void *ctx)
{
	struct sigaction sa;

	if (signo <= 0 || signo >= EV_NSIG)
		log_panic("%s: bad signal number %d", __func__, signo);
	memset(&sa, 0, sizeof(sa));
	if (sigemptyset(&sa.sa_mask) < 0)
		log_panic("%s: sigemptyset: %m", __func__);
	if (cb == NULL) {
		sa.sa_handler = SIG_DFL;
		if (sigaction(signo, &sa, NULL) < 0)
			log_fatal("sigaction %d: %m", signo);
		loop->sigs[signo].cb = NULL;
		loop->sigs[signo].ctx = NULL;
		loop->sigs[signo].caught = false;
		return;
	}
	if (loop->sig_pipe[0] < 0)
		ev_sig_pipe_open(loop);
	ev_sig_pid = getpid();
	ev_sig_wfd = loop->sig_pipe[1];
	loop->sigs[signo].cb = cb;
	loop->sigs[signo].ctx = ctx;
	loop->sigs[signo].caught = true;
	sa.sa_handler = ev_sig_handler;
	sa.sa_flags = SA_RESTART;
	if (sigaction(signo, &sa, NULL) < 0)
		log_fatal("sigaction %d: %m", signo);
}

/* ev_stop - make ev_run() return after the current callback */
void ev_stop(struct ev_loop *loop)
{
	loop->stop = true;
}

/* ev_timeout - milliseconds epoll_wait may sleep */
static int ev_timeout(const struct ev_loop *loop)
{
	int64_t wait;

	if (loop->nheap == 0)
		return -1;
	wait = loop->heap[0].when - ev_now_ms();
	if (wait < 0)
		return 0;
	return wait > INT_MAX ? INT_MAX : (int)wait;
}

/* ev_run_timers - fire the timers that are due */
static void ev_run_timers(struct ev_loop *loop)
{
	uint64_t limit = loop->next_timer_id;
	int64_t now = ev_now_ms();

	while (!loop->stop && loop->nheap > 0 && loop->heap[0].when <= now &&
	       loop->heap[0].id < limit) {
		struct ev_timer t = loop->heap[0];

		ev_heap_remove(loop, 0);
		t.cb(loop, t.ctx);
	}
}

/* ev_dispatch - hand one kernel event to its descriptor callback */
static void ev_dispatch(struct ev_loop *loop, const struct epoll_event *ev)
{
	int fd = (int)(ev->data.u64 & 0xffffffffu);
	uint32_t gen = (uint32_t)(ev->data.u64 >> 32);
	struct ev_fd_entry *e;
	int ready = 0;

	/* Deleted (or deleted and replaced) since epoll_wait returned. */
	if ((size_t)fd >= loop->nfds)
		return;
	e = loop->fds + fd;
	if (e->events == 0 || e->gen != gen)
		return;
	if (ev->events & EPOLLIN)
		ready |= EV_READ;
	if (ev->events & EPOLLOUT)
		ready |= EV_WRITE;
	if (ev->events & (EPOLLERR | EPOLLHUP))
		ready |= e->events;
	ready &= e->events;
	if (ready != 0)
		e->cb(loop, fd, ready, e->ctx);
}

/* ev_run - dispatch events until ev_stop() or nothing is left */
int ev_run(struct ev_loop *loop)
{
	struct epoll_event evs[EV_BATCH];
	int n;
	int i;

	while (!loop->stop) {
		if (loop->nregistered == 0 && loop->nheap == 0)
			break;
		n = epoll_wait(loop->epfd, evs, EV_BATCH, ev_timeout(loop));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_fatal("epoll_wait: %m");
		}
		for (i = 0; i < n && !loop->stop; i++)
			ev_dispatch(loop, evs + i);
		ev_run_timers(loop);
	}
	loop->stop = false;
	return 0;
}
