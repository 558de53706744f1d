/*
 * NAME
 *	test_event - unit tests for lib/event.c
 * SYNOPSIS
 *	build/unit/lib/test_event
 * DESCRIPTION
 *	Timers fire in deadline order (ties in the order added) and can be
 *	cancelled; descriptor callbacks see readiness and may delete their
 *	own or another registration mid-dispatch; a large descriptor grows
 *	the table; signals reach their callback through the loop; ev_run
 *	returns on ev_stop and when nothing is left. Only pipes and the
 *	process's own signals are used. No assertion depends on how fast
 *	the machine is, only on order.
 * DIAGNOSTICS
 *	Check's report; exit status 1 when a test fails.
 */
#include "sys_defs.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <sys/wait.h>

#include "event.h"
#include "log.h"
#include "strbuf.h"

struct trace {
	struct strbuf *log; /* what happened, in order */
	int count;
};

static struct trace trace;
static char labels[16][16];
static int nlabels;

/* label - a writable copy of a timer's name, to pass as its context */
static char *label(const char *s)
{
	ck_assert_int_lt(nlabels, 16);
	snprintf(labels[nlabels], sizeof(labels[0]), "%s", s);
	return labels[nlabels++];
}

/* trace_setup - empty trace for each test */
static void trace_setup(void)
{
	trace.log = strbuf_alloc(64);
	trace.count = 0;
	nlabels = 0;
}

/* trace_teardown - free it */
static void trace_teardown(void)
{
	strbuf_free(&trace.log);
}

/* on_timer - note the timer's label */
static void on_timer(struct ev_loop *loop, void *ctx)
{
	(void)loop;
	strbuf_printf_append(trace.log, "%s ", (const char *)ctx);
	trace.count++;
}

/* on_timer_stop - note and stop the loop */
static void on_timer_stop(struct ev_loop *loop, void *ctx)
{
	on_timer(loop, ctx);
	ev_stop(loop);
}

/* test_timer_order - deadline order, then insertion order */
START_TEST(test_timer_order)
{
	struct ev_loop *loop = ev_create();
	uint64_t a, b;

	/* Gaps of 50 ms keep the order independent of how long these
	 * calls take. */
	a = ev_timer_add(loop, 150, on_timer, label("150"));
	b = ev_timer_add(loop, 50, on_timer, label("50"));
	ck_assert_uint_ne(a, 0);
	ck_assert_uint_ne(b, 0);
	ck_assert_uint_ne(a, b);
	ev_timer_add(loop, 0, on_timer, label("0a"));
	ev_timer_add(loop, 100, on_timer, label("100"));
	ev_timer_add(loop, 0, on_timer, label("0b"));
	ev_timer_add(loop, -5, on_timer, label("neg"));
	ck_assert_int_eq(ev_run(loop), 0); /* returns when none are left */
	ck_assert_str_eq(strbuf_str(trace.log), "0a 0b neg 50 100 150 ");
	ev_free(&loop);
	ck_assert_ptr_null(loop);
}

END_TEST

/* test_timer_cancel - a cancelled timer never fires */
START_TEST(test_timer_cancel)
{
	struct ev_loop *loop = ev_create();
	uint64_t ids[20];
	char *x = label("x");
	size_t i;

	for (i = 0; i < ARRAY_LEN(ids); i++)
		ids[i] = ev_timer_add(loop, (long)(i % 5), on_timer, x);
	for (i = 0; i < ARRAY_LEN(ids); i += 2)
		ev_timer_cancel(loop, ids[i]);
	ev_timer_cancel(loop, 999999); /* unknown: ignored */
	ev_timer_add(loop, 30, on_timer, label("last"));
	ev_run(loop);
	ck_assert_int_eq(trace.count, 11);
	ck_assert_ptr_nonnull(strstr(strbuf_str(trace.log), "last"));
	ev_free(&loop);
}

END_TEST

/* on_timer_readd - a timer that schedules another */
static void on_timer_readd(struct ev_loop *loop, void *ctx)
{
	(void)ctx;
	trace.count++;
	if (trace.count < 5)
		ev_timer_add(loop, 0, on_timer_readd, NULL);
}

/* test_timer_from_timer - timers added by timers fire later */
START_TEST(test_timer_from_timer)
{
	struct ev_loop *loop = ev_create();

	ev_timer_add(loop, 0, on_timer_readd, NULL);
	ev_run(loop);
	ck_assert_int_eq(trace.count, 5);
	ev_free(&loop);
}

END_TEST

struct pipe_ctx {
	int rfd;
	int wfd;
	int reads;
	char got[16];
};

/* on_readable - read what arrived, stop after it */
static void on_readable(struct ev_loop *loop, int fd, int events, void *ctx)
{
	struct pipe_ctx *pc = ctx;
	ssize_t n;

	ck_assert_int_eq(fd, pc->rfd);
	ck_assert_int_eq(events, EV_READ);
	n = read(fd, pc->got, sizeof(pc->got) - 1);
	ck_assert_int_gt(n, 0);
	pc->got[n] = '\0';
	pc->reads++;
	ev_stop(loop);
}

/* on_write_later - a timer that writes into the pipe */
static void on_write_later(struct ev_loop *loop, void *ctx)
{
	struct pipe_ctx *pc = ctx;

	(void)loop;
	ck_assert_int_eq(write(pc->wfd, "ping", 4), 4);
}

/* test_fd_read - a callback runs when data arrives, not before */
START_TEST(test_fd_read)
{
	struct ev_loop *loop = ev_create();
	struct pipe_ctx pc;
	int p[2];

	memset(&pc, 0, sizeof(pc));
	ck_assert_int_eq(pipe(p), 0);
	pc.rfd = p[0];
	pc.wfd = p[1];
	ev_fd_set(loop, p[0], EV_READ, on_readable, &pc);
	ev_timer_add(loop, 20, on_write_later, &pc);
	ck_assert_int_eq(ev_run(loop), 0);
	ck_assert_int_eq(pc.reads, 1);
	ck_assert_str_eq(pc.got, "ping");
	/* events 0 unregisters: with nothing left, ev_run returns. */
	ev_fd_set(loop, p[0], 0, NULL, NULL);
	ck_assert_int_eq(write(p[1], "more", 4), 4);
	ck_assert_int_eq(ev_run(loop), 0);
	ck_assert_int_eq(pc.reads, 1);
	ev_free(&loop);
	close(p[0]);
	close(p[1]);
}

END_TEST

/* on_writable - the write side is ready at once */
static void on_writable(struct ev_loop *loop, int fd, int events, void *ctx)
{
	(void)ctx;
	ck_assert_int_eq(events, EV_WRITE);
	trace.count++;
	ev_fd_del(loop, fd);
}

/* test_fd_write - an empty pipe is writable */
START_TEST(test_fd_write)
{
	struct ev_loop *loop = ev_create();
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	ev_fd_set(loop, p[1], EV_WRITE, on_writable, NULL);
	ev_run(loop);
	ck_assert_int_eq(trace.count, 1);
	ev_free(&loop);
	close(p[0]);
	close(p[1]);
}

END_TEST

struct pair_ctx {
	int fds[2]; /* read ends of two pipes */
	int calls[2];
};

static struct pair_ctx pair;

/* on_pair - the first to run deletes and closes the other */
static void on_pair(struct ev_loop *loop, int fd, int events, void *ctx)
{
	int me = (int)(intptr_t)ctx;
	int other = 1 - me;

	(void)events;
	(void)fd;
	pair.calls[me]++;
	ev_fd_del(loop, pair.fds[other]);
	ev_fd_del(loop, pair.fds[me]);
	close(pair.fds[other]);
	pair.fds[other] = -1;
}

/* test_delete_other - a registration deleted mid-dispatch is not called */
START_TEST(test_delete_other)
{
	struct ev_loop *loop = ev_create();
	int p1[2], p2[2];

	ck_assert_int_eq(pipe(p1), 0);
	ck_assert_int_eq(pipe(p2), 0);
	pair.fds[0] = p1[0];
	pair.fds[1] = p2[0];
	pair.calls[0] = pair.calls[1] = 0;
	/* Both readable before the loop runs: one epoll_wait returns
	 * both. */
	ck_assert_int_eq(write(p1[1], "a", 1), 1);
	ck_assert_int_eq(write(p2[1], "b", 1), 1);
	ev_fd_set(loop, p1[0], EV_READ, on_pair, (void *)(intptr_t)0);
	ev_fd_set(loop, p2[0], EV_READ, on_pair, (void *)(intptr_t)1);
	ev_run(loop);
	ck_assert_int_eq(pair.calls[0] + pair.calls[1], 1);
	ev_free(&loop);
	if (pair.fds[0] >= 0)
		close(pair.fds[0]);
	if (pair.fds[1] >= 0)
		close(pair.fds[1]);
	close(p1[1]);
	close(p2[1]);
}

END_TEST

struct self_ctx {
	int rfd;
	int wfd;
	int calls;
};

/* on_self_replace - delete self, then register a new pipe */
static void on_self_replace(struct ev_loop *loop, int fd, int events, void *ctx)
{
	struct self_ctx *sc = ctx;
	char c;

	(void)events;
	ck_assert_int_eq(read(fd, &c, 1), 1);
	sc->calls++;
	ev_fd_del(loop, fd);
	if (sc->calls == 3) {
		ev_stop(loop);
		return;
	}
	/* Re-register the same descriptor with data already waiting. */
	ck_assert_int_eq(write(sc->wfd, "x", 1), 1);
	ev_fd_set(loop, fd, EV_READ, on_self_replace, sc);
}

/* test_delete_self - a callback may delete and re-add itself */
START_TEST(test_delete_self)
{
	struct ev_loop *loop = ev_create();
	struct self_ctx sc = {-1, -1, 0};
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	sc.rfd = p[0];
	sc.wfd = p[1];
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	ev_fd_set(loop, p[0], EV_READ, on_self_replace, &sc);
	ev_run(loop);
	ck_assert_int_eq(sc.calls, 3);
	ev_free(&loop);
	close(p[0]);
	close(p[1]);
}

END_TEST

/* on_big_fd - a high descriptor number works */
static void on_big_fd(struct ev_loop *loop, int fd, int events, void *ctx)
{
	char c;

	(void)ctx;
	(void)events;
	ck_assert_int_eq(fd, 700);
	ck_assert_int_eq(read(fd, &c, 1), 1);
	trace.count++;
	ev_fd_del(loop, fd);
}

/* test_big_fd - the descriptor table grows */
START_TEST(test_big_fd)
{
	struct ev_loop *loop = ev_create();
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(dup2(p[0], 700), 700);
	close(p[0]);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	ev_fd_set(loop, 700, EV_READ, on_big_fd, NULL);
	ev_run(loop);
	ck_assert_int_eq(trace.count, 1);
	ev_free(&loop);
	close(700);
	close(p[1]);
}

END_TEST

/* on_hup - a closed writer shows up as readable (EOF) */
static void on_hup(struct ev_loop *loop, int fd, int events, void *ctx)
{
	char c;

	(void)ctx;
	ck_assert_int_eq(events, EV_READ);
	ck_assert_int_eq(read(fd, &c, 1), 0);
	trace.count++;
	ev_fd_del(loop, fd);
}

/* test_hangup - the peer closing is reported to the reader */
START_TEST(test_hangup)
{
	struct ev_loop *loop = ev_create();
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	close(p[1]);
	ev_fd_set(loop, p[0], EV_READ, on_hup, NULL);
	ev_run(loop);
	ck_assert_int_eq(trace.count, 1);
	ev_free(&loop);
	close(p[0]);
}

END_TEST

/* on_signal - note the signal; stop on SIGTERM */
static void on_signal(struct ev_loop *loop, int signo, void *ctx)
{
	(void)ctx;
	strbuf_printf_append(trace.log, "%s ",
			     signo == SIGUSR1   ? "USR1"
			     : signo == SIGHUP  ? "HUP"
			     : signo == SIGTERM ? "TERM"
						: "?");
	if (signo == SIGTERM)
		ev_stop(loop);
}

/* on_raise - a timer that sends the process signals */
static void on_raise(struct ev_loop *loop, void *ctx)
{
	(void)loop;
	(void)ctx;
	ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
	ck_assert_int_eq(kill(getpid(), SIGHUP), 0);
}

/* on_raise_term - and then the one that stops the loop */
static void on_raise_term(struct ev_loop *loop, void *ctx)
{
	(void)loop;
	(void)ctx;
	ck_assert_int_eq(kill(getpid(), SIGTERM), 0);
}

/* test_signals - signals reach their callbacks from the loop */
START_TEST(test_signals)
{
	struct ev_loop *loop = ev_create();
	struct sigaction sa;

	ev_signal(loop, SIGUSR1, on_signal, NULL);
	ev_signal(loop, SIGHUP, on_signal, NULL);
	ev_signal(loop, SIGTERM, on_signal, NULL);
	ev_timer_add(loop, 10, on_raise, NULL);
	ev_timer_add(loop, 30, on_raise_term, NULL);
	ck_assert_int_eq(ev_run(loop), 0);
	ck_assert_ptr_nonnull(strstr(strbuf_str(trace.log), "USR1"));
	ck_assert_ptr_nonnull(strstr(strbuf_str(trace.log), "HUP"));
	ck_assert_ptr_nonnull(strstr(strbuf_str(trace.log), "TERM"));
	/* TERM was sent after the others were delivered. */
	ck_assert_str_eq(strstr(strbuf_str(trace.log), "TERM"), "TERM ");
	ev_free(&loop);
	/* ev_free restored the default actions. */
	ck_assert_int_eq(sigaction(SIGUSR1, NULL, &sa), 0);
	ck_assert_ptr_eq((void *)sa.sa_handler, (void *)SIG_DFL);
}

END_TEST

/* on_signal_stop_later - a signal callback arms the stopping timer */
static void on_signal_stop_later(struct ev_loop *loop, int signo, void *ctx)
{
	(void)ctx;
	(void)signo;
	trace.count++;
	ev_timer_add(loop, 0, on_timer_stop, label("after"));
}

/* test_signal_before_run - a signal sent before ev_run is not lost */
START_TEST(test_signal_before_run)
{
	struct ev_loop *loop = ev_create();

	ev_signal(loop, SIGUSR2, on_signal_stop_later, NULL);
	ck_assert_int_eq(kill(getpid(), SIGUSR2), 0);
	ev_run(loop);
	ck_assert_int_eq(trace.count, 2);
	ev_free(&loop);
}

END_TEST

/* test_signal_in_child - a forked child's signal stays in the child */
START_TEST(test_signal_in_child)
{
	struct ev_loop *loop = ev_create();
	pid_t pid;
	int status;

	ev_signal(loop, SIGUSR1, on_signal, NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		(void)kill(getpid(), SIGUSR1);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	/* Had the child written into the pipe, the byte would be read in
	 * the first pass, before this timer. */
	ev_timer_add(loop, 0, on_timer_stop, label("stop"));
	ev_run(loop);
	ck_assert_str_eq(strbuf_str(trace.log), "stop ");
	ev_free(&loop);
}

END_TEST

/* test_stop_in_timer - ev_stop inside a callback makes ev_run return */
START_TEST(test_stop_in_timer)
{
	struct ev_loop *loop = ev_create();

	ev_timer_add(loop, 0, on_timer_stop, label("first"));
	ev_timer_add(loop, 50, on_timer, label("second"));
	ev_run(loop);
	ck_assert_str_eq(strbuf_str(trace.log), "first ");
	/* The loop can be run again and picks up where it was. */
	ev_run(loop);
	ck_assert_str_eq(strbuf_str(trace.log), "first second ");
	ev_free(&loop);
}

END_TEST

/* test_now - the clock does not go backwards */
START_TEST(test_now)
{
	int64_t a = ev_now_ms();
	int64_t b = ev_now_ms();

	ck_assert_int_ge(a, 0);
	ck_assert_int_ge(b, a);
}

END_TEST

/* event_suite - every event test */
static Suite *event_suite(void)
{
	Suite *s = suite_create("event");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, trace_setup, trace_teardown);
	tcase_add_test(tc, test_timer_order);
	tcase_add_test(tc, test_timer_cancel);
	tcase_add_test(tc, test_timer_from_timer);
	tcase_add_test(tc, test_fd_read);
	tcase_add_test(tc, test_fd_write);
	tcase_add_test(tc, test_delete_other);
	tcase_add_test(tc, test_delete_self);
	tcase_add_test(tc, test_big_fd);
	tcase_add_test(tc, test_hangup);
	tcase_add_test(tc, test_signals);
	tcase_add_test(tc, test_signal_before_run);
	tcase_add_test(tc, test_signal_in_child);
	tcase_add_test(tc, test_stop_in_timer);
	tcase_add_test(tc, test_now);
	suite_add_tcase(s, tc);
	return s;
}

/* main - run the suite */
int main(void)
{
	SRunner *sr = srunner_create(event_suite());
	int failed;

	log_init("postern", "test_event");
	log_set_syslog(false);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
