/*
 * NAME
 *	server - the daemon skeleton every service is built on
 * SYNOPSIS
 *	see server.h
 *
 *	command -c DIR -n SERVICE [-u USER] [-r] [-o name=value]... [-d]
 *		[-S] [-- service arguments]
 * DESCRIPTION
 *	server_main() is the whole life of a service process:
 *
 *	1. options: -c the instance directory, -n the service name (from
 *	   services.conf), -u the account to become, -r chroot into the
 *	   queue directory, -o a parameter override (repeatable), -d debug
 *	   logging, -S stand-alone (below); arguments after "--" are the
 *	   service's own (srv->argc, srv->argv).
 *	2. configuration: config_load() of DIR/postern.conf, then each -o
 *	   through config_set(). An error is fatal and names the parameter.
 *	3. logging: tagged "<syslog_name>/<program>", to maillog_file when
 *	   set (opened now, while still privileged, and kept open across
 *	   chroot and the identity change), else syslog; a stderr copy when
 *	   the environment says POSTERN_LOG_STDERR=1 (master sets it under
 *	   `postern start -f`) or in stand-alone mode.
 *	4. pre_init, still privileged; then chroot (-r) and the identity
 *	   change (-u, through priv_drop(), which as non-root only logs
 *	   that the identity is kept); then post_init.
 *	5. the SINGLE or MULTI loop.
 *
 *	Descriptors from master: fd 3 the listener (shared by every
 *	process of the service, so accept() is non-blocking and EAGAIN is
 *	normal: another process won the race), fd 4 the status pipe, fd 5
 *	master's liveness pipe. All three are made close-on-exec. A
 *	process reports SERVER_STATUS_IDLE when it is ready for a client
 *	and SERVER_STATUS_BUSY when it cannot take one: a SINGLE process
 *	is busy from a successful accept until its client is done; a
 *	MULTI process can always take one more client and reports busy
 *	only when it winds down (max_use reached, SIGHUP), so master
 *	starts another. Reporting busy only after accept() succeeded
 *	keeps master from starting a second process for a connection the
 *	first one is about to take.
 *
 *	Client descriptors: SINGLE clients are blocking and the skeleton
 *	closes the descriptor when serve() returns; MULTI clients are
 *	non-blocking and belong to the daemon, which closes them and
 *	calls server_client_done().
 *
 *	Heap: a service allocates the same buffers (64 KiB message
 *	chunks, 128 KiB IPC output) for every client. glibc would hand
 *	them back to the kernel after each client (brk shrink or munmap,
 *	each a TLB flush on every CPU the process ran on) and fault them
 *	in again for the next one, so server_main() keeps up to
 *	SERVER_HEAP_KEEP bytes of free heap and serves allocations below
 *	that size from the heap, not from mmap().
 *
 *	Exit: after max_use clients, after max_idle seconds without a
 *	client (neither applies with service_start = always), on
 *	end-of-file from fd 5 (master is gone), on SIGTERM (at once), and
 *	after SIGHUP or server_stop() once the current clients are done
 *	(a MULTI daemon's wind_down may first close clients that only
 *	wait for more requests). pre_exit runs on every orderly exit.
 *
 *	SIGUSR1 (forwarded by master after the maillog was rotated): a
 *	SINGLE process treats it as SIGHUP (it finishes its client and
 *	exits; its successor opens the new file while still privileged);
 *	a MULTI process reopens the maillog in place; when it cannot (its
 *	account may not reach the log directory, or it runs chrooted) it
 *	reports SERVER_STATUS_GONE, so that master no longer counts it and
 *	starts a successor at once, and winds down as after SIGHUP.
 *
 *	Stand-alone mode (-S) is for tests and debugging: no master, no
 *	listener; standard input (a socket) is the one client, and the
 *	process exits when it is done. Without -S and without a listening
 *	socket on fd 3 the program says it must be started by master and
 *	exits 1.
 * DIAGNOSTICS
 *	Configuration and environment problems are log_fatal() (master
 *	restarts the service with throttling). Failing status writes are
 *	ignored: master may be reloading; fd 5 tells when it is gone.
 * SEE ALSO
 *	server.h, docs/master.md, daemons/master
 */
#include "sys_defs.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "event.h"
#include "log.h"
#include "params.h"
#include "priv.h"
#include "server.h"
#include "strbuf.h"
#include "xalloc.h"

#define SERVER_HEAP_KEEP (1024 * 1024) /* free heap kept between clients */

static volatile sig_atomic_t server_got_hup;
static int server_status_fd = -1;
static int server_master_fd = -1;
static bool server_idle_exit = true; /* max_use and max_idle apply */
static uint64_t server_idle_timer;

/* server_usage - complain about the command line and exit */
static NORETURN void server_usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s -c DIR -n SERVICE [-u USER] [-r] [-o name=value]... "
		"[-d] [-S] [-- args]\n",
		prog);
	exit(64);
}

/* server_fd_valid - is fd open */
static bool server_fd_valid(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* server_is_listener - is fd a listening socket */
static bool server_is_listener(int fd)
{
	struct stat st;
	int on = 0;
	socklen_t len = sizeof(on);

	if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode))
		return false;
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) < 0)
		return false;
	return on != 0;
}

/* server_cloexec - set close-on-exec on fd */
static void server_cloexec(int fd)
{
	int flags = fcntl(fd, F_GETFD);

	if (flags >= 0)
		(void)fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

/* server_report - tell master whether this process can take a client */
static void server_report(enum server_state state)
{
	struct server_status st;
	ssize_t n;

	if (server_status_fd < 0)
		return;
	st.pid = (int32_t)log_self_pid();
	st.state = (int32_t)state;
	do
		n = write(server_status_fd, &st, sizeof(st));
	while (n < 0 && errno == EINTR);
}

/* server_exit - run pre_exit and leave */
static NORETURN void server_exit(struct server *srv)
{
	if (srv->spec->pre_exit != NULL)
		srv->spec->pre_exit(srv);
	exit(0);
}

/* server_master_gone - true when fd 5 reports end-of-file or an error */
static bool server_master_gone(void)
{
	char buf[64];
	ssize_t n;

	if (server_master_fd < 0)
		return false;
	n = read(server_master_fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return false;
	return n <= 0;
}

/* server_on_hup - SINGLE: note SIGHUP, finish the client, then exit */
static void server_on_hup(int signo)
{
	(void)signo;
	server_got_hup = 1;
}

/* server_on_term - SINGLE: SIGTERM ends the process at once */
static void server_on_term(int signo)
{
	(void)signo;
	_exit(0);
}

/* server_accept - accept one client, or -1 when there is none */
static int server_accept(struct server *srv, int flags)
{
	int fd;

	/* cppcheck-suppress nullPointer ; accept4(2) takes NULL, NULL when
	 * the peer address is not wanted (cppcheck's gnu.cfg says not) */
	fd = accept4(srv->listen_fd, NULL, NULL, flags | SOCK_CLOEXEC);
	if (fd >= 0)
		return fd;
	switch (errno) {
	case EAGAIN:
	case EINTR:
	case ECONNABORTED:
	case EPROTO:
	case EPERM:
	case ENETDOWN:
	case ENOPROTOOPT:
	case EHOSTDOWN:
	case ENONET:
	case EHOSTUNREACH:
	case EOPNOTSUPP:
	case ENETUNREACH:
		return -1;
	case EMFILE:
	case ENFILE:
	case ENOBUFS:
	case ENOMEM:
		log_warn("accept: %m");
		(void)sleep(1);
		return -1;
	default:
		log_fatal("accept: %m");
	}
}

/* server_single_loop - one client at a time until it is time to go */
static NORETURN void server_single_loop(struct server *srv)
{
	struct sigaction sa;
	sigset_t hup, orig;
	struct timespec idle;
	struct pollfd pfd[2];
	nfds_t nfds;
	int fd;
	int n;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = server_on_hup;
	(void)sigaction(SIGHUP, &sa, NULL);
	(void)sigaction(SIGUSR1, &sa, NULL); /* maillog rotated */
	sa.sa_handler = server_on_term;
	(void)sigaction(SIGTERM, &sa, NULL);
	sigemptyset(&hup);
	sigaddset(&hup, SIGHUP);
	sigaddset(&hup, SIGUSR1);
	idle.tv_sec = (time_t)srv->cfg.max_idle;
	idle.tv_nsec = 0;

	for (;;) {
		/* SIGHUP is blocked from the flag test until ppoll()
		 * atomically unblocks it: no lost wake-up. */
		(void)sigprocmask(SIG_BLOCK, &hup, &orig);
		if (server_got_hup || srv->stopping)
			server_exit(srv);
		pfd[0].fd = srv->listen_fd;
		pfd[0].events = POLLIN;
		pfd[0].revents = 0;
		nfds = 1;
		if (server_master_fd >= 0) {
			pfd[1].fd = server_master_fd;
			pfd[1].events = POLLIN;
			pfd[1].revents = 0;
			nfds = 2;
		}
		n = ppoll(pfd, nfds, server_idle_exit ? &idle : NULL, &orig);
		(void)sigprocmask(SIG_SETMASK, &orig, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_fatal("poll: %m");
		}
		if (n == 0) {
			log_debug("idle for %llds: exiting", srv->cfg.max_idle);
			server_exit(srv);
		}
		if (nfds > 1 && pfd[1].revents != 0 && server_master_gone())
			server_exit(srv);
		if (pfd[0].revents == 0)
			continue;
		fd = server_accept(srv, 0);
		if (fd < 0)
			continue;
		server_report(SERVER_STATUS_BUSY);
		srv->clients_active = 1;
		srv->spec->serve(srv, fd);
		(void)close(fd);
		srv->clients_active = 0;
		srv->clients_served++;
		if (server_idle_exit &&
		    srv->clients_served >= (unsigned long)srv->cfg.max_use)
			server_exit(srv);
		if (server_got_hup || srv->stopping)
			server_exit(srv);
		server_report(SERVER_STATUS_IDLE);
	}
}

/* server_idle_cb - MULTI: no client for max_idle seconds */
static void server_idle_cb(struct ev_loop *loop, void *ctx)
{
	struct server *srv = ctx;

	(void)loop;
	server_idle_timer = 0;
	if (srv->clients_active == 0) {
		log_debug("idle for %llds: exiting", srv->cfg.max_idle);
		server_exit(srv);
	}
}

/* server_idle_arm - MULTI: start the idle clock when no client is left */
static void server_idle_arm(struct server *srv)
{
	if (!server_idle_exit || srv->clients_active != 0 ||
	    server_idle_timer != 0 || srv->loop == NULL)
		return;
	server_idle_timer = ev_timer_add(
	    srv->loop, (long)(srv->cfg.max_idle * 1000), server_idle_cb, srv);
}

/* server_wind_down - MULTI: stop accepting; exit when clients are done */
static void server_wind_down(struct server *srv)
{
	if (!srv->stopping) {
		srv->stopping = true;
		if (srv->listen_fd >= 0)
			ev_fd_del(srv->loop, srv->listen_fd);
		/* Stay "busy" so master does not count on this process. */
		server_report(SERVER_STATUS_BUSY);
		if (srv->spec->wind_down != NULL)
			srv->spec->wind_down(srv);
	}
	if (srv->clients_active == 0)
		ev_stop(srv->loop);
}

/* server_accept_cb - MULTI: a client is waiting on the listener */
static void server_accept_cb(struct ev_loop *loop, int lfd, int events,
			     void *ctx)
{
	struct server *srv = ctx;
	int fd;

	(void)loop;
	(void)lfd;
	(void)events;
	if (srv->stopping)
		return;
	fd = server_accept(srv, SOCK_NONBLOCK);
	if (fd < 0)
		return;
	if (server_idle_timer != 0) {
		ev_timer_cancel(srv->loop, server_idle_timer);
		server_idle_timer = 0;
	}
	srv->clients_active++;
	srv->clients_served++;
	srv->spec->serve(srv, fd);
	if (server_idle_exit &&
	    srv->clients_served >= (unsigned long)srv->cfg.max_use)
		server_wind_down(srv);
}

/* server_master_cb - MULTI: fd 5 is readable: is master gone? */
static void server_master_cb(struct ev_loop *loop, int fd, int events,
			     void *ctx)
{
	(void)loop;
	(void)fd;
	(void)events;
	if (server_master_gone())
		server_exit(ctx);
}

/* server_sig_cb - MULTI: SIGTERM exits, SIGHUP winds down, SIGUSR1
 * reopens the maillog (or winds down when it cannot) */
static void server_sig_cb(struct ev_loop *loop, int signo, void *ctx)
{
	struct server *srv = ctx;

	(void)loop;
	if (signo == SIGTERM)
		server_exit(srv);
	if (signo == SIGUSR1) {
		if (log_reopen() == 0)
			return;
		/* Master starts a successor at once, even at maxproc. */
		server_report(SERVER_STATUS_GONE);
	}
	server_wind_down(srv);
}

/* server_multi_loop - serve many clients from one event loop */
static NORETURN void server_multi_loop(struct server *srv)
{
	ev_signal(srv->loop, SIGTERM, server_sig_cb, srv);
	ev_signal(srv->loop, SIGHUP, server_sig_cb, srv);
	ev_signal(srv->loop, SIGUSR1, server_sig_cb, srv);
	if (server_master_fd >= 0)
		ev_fd_set(srv->loop, server_master_fd, EV_READ,
			  server_master_cb, srv);
	if (srv->listen_fd >= 0) {
		ev_fd_set(srv->loop, srv->listen_fd, EV_READ, server_accept_cb,
			  srv);
		server_idle_arm(srv);
	}
	(void)ev_run(srv->loop);
	server_exit(srv);
}

/* server_client_done - MULTI: a client has gone */
void server_client_done(struct server *srv)
{
	if (srv->clients_active == 0)
		log_panic("%s: no client is active", __func__);
	srv->clients_active--;
	if (srv->clients_active > 0)
		return;
	if (srv->stopping) {
		if (srv->loop != NULL)
			ev_stop(srv->loop);
		return;
	}
	server_idle_arm(srv);
}

/* server_stop - finish the current clients, then exit */
void server_stop(struct server *srv)
{
	if (srv->spec->model == SERVER_MULTI && srv->loop != NULL)
		server_wind_down(srv);
	else
		srv->stopping = true;
}

/* server_load_config - postern.conf plus the -o overrides */
static void server_load_config(struct server *srv, char **overrides,
			       size_t noverrides)
{
	struct strbuf *why = strbuf_alloc(128);
	size_t i;

	if (config_load(&srv->cfg, srv->config_dir, why) < 0)
		log_fatal("%s", strbuf_str(why));
	for (i = 0; i < noverrides; i++) {
		char *eq = strchr(overrides[i], '=');
		const char *error = NULL;

		if (eq == NULL)
			log_fatal("-o %s: expected name=value", overrides[i]);
		*eq = '\0';
		if (config_set(&srv->cfg, overrides[i], eq + 1, &error) < 0)
			log_fatal("-o %s: %s", overrides[i], error);
		*eq = '=';
	}
	strbuf_free(&why);
}

/* server_open_log - the sinks postern.conf and the environment ask for */
static void server_open_log(struct server *srv, bool standalone)
{
	const char *env = getenv("POSTERN_LOG_STDERR");
	bool to_stderr = standalone || (env != NULL && strcmp(env, "1") == 0);

	log_init(srv->cfg.syslog_name, srv->spec->name);
	log_set_stderr(to_stderr);
	log_set_syslog(true);
	if (srv->cfg.maillog_file != NULL && *srv->cfg.maillog_file != '\0' &&
	    log_open_file(srv->cfg.maillog_file) < 0)
		log_warn("open %s: %m", srv->cfg.maillog_file);
}

/* server_drop - chroot and identity change after pre_init */
static void server_drop(struct server *srv)
{
	const char *dir = srv->chroot ? srv->cfg.queue_directory : NULL;

	if (srv->user != NULL) {
		priv_drop(srv->user, dir);
		return;
	}
	if (dir != NULL && geteuid() == 0) {
		if (chroot(dir) < 0)
			log_fatal("chroot %s: %m", dir);
		if (chdir("/") < 0)
			log_fatal("chdir / in chroot %s: %m", dir);
	}
}

/* server_main - run a service process; see the header comment */
void server_main(int argc, char **argv, const struct server_spec *spec)
{
	static struct server server;
	struct server *srv = &server;
	char **overrides = NULL;
	size_t noverrides = 0;
	const char *opt_dir = NULL;
	bool standalone = false;
	bool debug = false;
	int ch;

	srv->spec = spec;
	srv->service_name = spec->name; /* -n NAME overrides */
	srv->listen_fd = -1;
	/* Failure only leaves glibc's defaults: not worth a message. */
	(void)mallopt(M_TRIM_THRESHOLD, SERVER_HEAP_KEEP);
	(void)mallopt(M_MMAP_THRESHOLD, SERVER_HEAP_KEEP);
	log_init("postern", spec->name);
	log_set_stderr(true);
	log_set_syslog(false);

	while ((ch = getopt(argc, argv, "+c:n:u:ro:dS")) != -1) {
		switch (ch) {
		case 'c':
			opt_dir = optarg;
			break;
		case 'n':
			srv->service_name = optarg;
			break;
		case 'u':
			srv->user = optarg;
			break;
		case 'r':
			srv->chroot = true;
			break;
		case 'o':
			overrides = xreallocarray(overrides, noverrides + 1,
						  sizeof(*overrides));
			overrides[noverrides++] = optarg;
			break;
		case 'd':
			debug = true;
			break;
		case 'S':
			standalone = true;
			break;
		default:
			server_usage(argv[0]);
		}
	}
	srv->argc = argc - optind;
	srv->argv = argv + optind;

	if (!standalone && !server_is_listener(SERVER_LISTEN_FD)) {
		fprintf(stderr,
			"%s: no listening socket on descriptor %d: this "
			"program is started by master (postern start), or "
			"with -S to serve one client on standard input\n",
			spec->name, SERVER_LISTEN_FD);
		exit(1);
	}
	if (!standalone) {
		srv->listen_fd = SERVER_LISTEN_FD;
		server_cloexec(SERVER_LISTEN_FD);
		if (server_fd_valid(SERVER_STATUS_FD)) {
			server_status_fd = SERVER_STATUS_FD;
			server_cloexec(SERVER_STATUS_FD);
		}
		if (server_fd_valid(SERVER_MASTER_FD)) {
			server_master_fd = SERVER_MASTER_FD;
			server_cloexec(SERVER_MASTER_FD);
			(void)fcntl(SERVER_MASTER_FD, F_SETFL,
				    fcntl(SERVER_MASTER_FD, F_GETFL) |
					O_NONBLOCK);
		}
		(void)fcntl(srv->listen_fd, F_SETFL,
			    fcntl(srv->listen_fd, F_GETFL) | O_NONBLOCK);
	}
	(void)signal(SIGPIPE, SIG_IGN);

	srv->config_dir = config_find_dir(opt_dir);
	server_load_config(srv, overrides, noverrides);
	free(overrides);
	server_open_log(srv, standalone);
	log_set_debug(debug);
	server_idle_exit = strcmp(srv->cfg.service_start, "always") != 0;

	if (spec->pre_init != NULL)
		spec->pre_init(srv);
	server_drop(srv);
	if (spec->model == SERVER_MULTI)
		srv->loop = ev_create();
	if (spec->post_init != NULL)
		spec->post_init(srv);

	if (standalone) {
		srv->stopping = true;
		srv->clients_active = 1;
		srv->clients_served = 1;
		if (spec->model == SERVER_SINGLE) {
			spec->serve(srv, STDIN_FILENO);
			server_exit(srv);
		}
		(void)fcntl(STDIN_FILENO, F_SETFL,
			    fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
		spec->serve(srv, STDIN_FILENO);
		if (srv->clients_active > 0)
			(void)ev_run(srv->loop);
		server_exit(srv);
	}
	server_report(SERVER_STATUS_IDLE);
	if (spec->model == SERVER_MULTI)
		server_multi_loop(srv);
	server_single_loop(srv);
}
