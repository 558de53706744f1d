/*
 * NAME
 *	event.h - the event loop for daemons that serve many clients
 * DESCRIPTION
 *	A thin layer over epoll: read and write callbacks per descriptor,
 *	one-shot timers in milliseconds, and signals delivered through a
 *	self-pipe so handlers run in the loop, never in signal context.
 *	Callbacks must not block.
 */
#ifndef POSTERN_EVENT_H
#define POSTERN_EVENT_H

#include "sys_defs.h"

#define EV_READ 1
#define EV_WRITE 2

struct ev_loop;

typedef void (*ev_fd_cb)(struct ev_loop *loop, int fd, int events, void *ctx);
typedef void (*ev_timer_cb)(struct ev_loop *loop, void *ctx);
typedef void (*ev_signal_cb)(struct ev_loop *loop, int signo, void *ctx);

struct ev_loop *ev_create(void);
void ev_free(struct ev_loop **loopp);
void ev_fd_set(struct ev_loop *loop, int fd, int events, ev_fd_cb cb,
	       void *ctx);
void ev_fd_del(struct ev_loop *loop, int fd);
uint64_t ev_timer_add(struct ev_loop *loop, long ms, ev_timer_cb cb, void *ctx);
void ev_timer_cancel(struct ev_loop *loop, uint64_t id);
void ev_signal(struct ev_loop *loop, int signo, ev_signal_cb cb, void *ctx);
int ev_run(struct ev_loop *loop);
void ev_stop(struct ev_loop *loop);
int64_t ev_now_ms(void);

#endif
