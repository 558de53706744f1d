/*
 * NAME
 *	proxyd_auth - password checks in a small bounded thread pool
 * SYNOPSIS
 *	see proxyd.h
 * DESCRIPTION
 *	An argon2id check takes tens of milliseconds and 64 MiB, so it
 *	never runs on the event loop: password_workers threads take jobs
 *	from a queue, verify with passwd_verify(), and hand the result back
 *	through an eventfd that the loop watches; lookups keep flowing
 *	meanwhile. At most password_queue checks wait or run at once; more
 *	are refused at once (the client gets a temporary failure), so a
 *	flood of AUTH attempts cannot grow memory without bound.
 *
 *	A user the database does not know (or an inactive one) is checked
 *	against a dummy ARGON2ID hash made with the same parameters as
 *	real ones, and the answer is "no" whatever the outcome: an unknown
 *	user costs the same time as a wrong password. A malformed stored
 *	hash is also "no", logged (without the hash) by the main thread;
 *	the worker threads never log.
 * DIAGNOSTICS
 *	proxyd_auth_submit() returns -1 when the queue is full.
 * SEE ALSO
 *	passwd.h, docs/proxyd.md
 */
#include "sys_defs.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "event.h"
#include "log.h"
#include "lookup_clnt.h"
#include "passwd.h"
#include "xalloc.h"
#include "proxyd.h"

struct proxyd_auth_job {
	struct proxyd_auth_job *next;
	char *user;
	char *hash; /* NULL: unknown user, use the dummy */
	char *password;
	int result;
	const char *error;
	proxyd_auth_cb cb;
	void *ctx;
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct proxyd_auth_job *todo_head, *todo_tail;
	struct proxyd_auth_job *done;
	size_t pending;
	size_t max;
	int efd;
	char *dummy;
	const char *scheme;
} pool = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* proxyd_auth_worker - verify passwords until the process ends */
static void *proxyd_auth_worker(void *arg)
{
	struct proxyd_auth_job *job;
	uint64_t one = 1;
	int r;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&pool.mu);
		while (pool.todo_head == NULL)
			pthread_cond_wait(&pool.cv, &pool.mu);
		job = pool.todo_head;
		pool.todo_head = job->next;
		if (pool.todo_head == NULL)
			pool.todo_tail = NULL;
		pthread_mutex_unlock(&pool.mu);

		job->error = NULL;
		r = passwd_verify(job->hash ? job->hash : pool.dummy,
				  job->password, pool.scheme, &job->error);
		job->result = job->hash != NULL && r == PASSWD_OK
				  ? LOOKUP_OK
				  : LOOKUP_NOKEY;
		if (r != PASSWD_ERROR || job->hash == NULL)
			job->error = NULL;
		explicit_bzero(job->password, strlen(job->password));

		pthread_mutex_lock(&pool.mu);
		job->next = pool.done;
		pool.done = job;
		pthread_mutex_unlock(&pool.mu);
		while (write(pool.efd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
	}
	return NULL;
}

/* proxyd_auth_job_free - release a finished job */
static void proxyd_auth_job_free(struct proxyd_auth_job *job)
{
	free(job->user);
	if (job->hash != NULL)
		explicit_bzero(job->hash, strlen(job->hash));
	free(job->hash);
	free(job->password);
	free(job);
}

/* proxyd_auth_ready - deliver finished checks on the loop */
static void proxyd_auth_ready(struct ev_loop *loop, int fd, int events,
			      void *ctx)
{
	struct proxyd_auth_job *list, *rev = NULL, *job;
	uint64_t n;

	(void)loop;
	(void)events;
	(void)ctx;
	if (read(fd, &n, sizeof(n)) < 0)
		n = 0;
	pthread_mutex_lock(&pool.mu);
	list = pool.done;
	pool.done = NULL;
	pthread_mutex_unlock(&pool.mu);
	while ((job = list) != NULL) { /* oldest first */
		list = job->next;
		job->next = rev;
		rev = job;
	}
	while ((job = rev) != NULL) {
		rev = job->next;
		pool.pending--;
		if (job->error != NULL)
			log_warn("user %s: stored password hash: %s",
				 log_esc(job->user), job->error);
		job->cb(job->result, job->ctx);
		proxyd_auth_job_free(job);
	}
}

/* proxyd_auth_submit - queue a check; -1 when too many are pending */
int proxyd_auth_submit(const char *user, const char *hash, const char *password,
		       proxyd_auth_cb cb, void *ctx)
{
	struct proxyd_auth_job *job;

	if (pool.pending >= pool.max)
		return -1;
	job = xcalloc(1, sizeof(*job));
	job->user = xstrdup(user);
	job->hash = hash ? xstrdup(hash) : NULL;
	job->password = xstrdup(password);
	job->cb = cb;
	job->ctx = ctx;
	pool.pending++;
	pthread_mutex_lock(&pool.mu);
	if (pool.todo_tail != NULL)
		pool.todo_tail->next = job;
	else
		pool.todo_head = job;
	pool.todo_tail = job;
	pthread_cond_signal(&pool.cv);
	pthread_mutex_unlock(&pool.mu);
	return 0;
}

/* proxyd_auth_init - the dummy hash, the eventfd and the threads */
void proxyd_auth_init(struct ev_loop *loop, const struct proxyd_conf *conf)
{
	sigset_t all, old;
	pthread_t tid;
	long long i;
	int err;

	pool.max = (size_t)conf->password_queue;
	pool.scheme = conf->default_password_scheme;
	pool.dummy = xasprintf("{ARGON2ID}%s", passwd_dummy_hash());
	if ((pool.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
		log_fatal("eventfd: %m");
	ev_fd_set(loop, pool.efd, EV_READ, proxyd_auth_ready, NULL);
	/* Signals stay with the main thread and its event loop. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < conf->password_workers; i++) {
		if ((err = pthread_create(&tid, NULL, proxyd_auth_worker,
					  NULL)) != 0) {
			errno = err;
			log_fatal("pthread_create: %m");
		}
		pthread_detach(tid);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}
