/*
 * NAME
 *	server.h - the daemon skeleton every service is built on
 * DESCRIPTION
 *	master starts a service program as root (or as the invoking user in
 *	a developer instance) with:
 *
 *	  fd 3  the listening socket (SERVER_LISTEN_FD)
 *	  fd 4  the write end of the service's status pipe (SERVER_STATUS_FD)
 *	  fd 5  the read end of master's liveness pipe (SERVER_MASTER_FD):
 *	        end-of-file there means master is gone
 *	  argv  command -c CONFIG_DIR -n SERVICE [-u USER] [-r] [-o name=value]...
 *	        [-- service arguments]
 *
 *	server_main() parses those options, loads postern.conf and applies
 *	the -o overrides, opens the log, runs pre_init (still privileged),
 *	chroots into the queue directory when -r is given, drops to USER,
 *	runs post_init, then serves clients:
 *
 *	  SERVER_SINGLE  one client at a time: accept, serve() returns when
 *	                 the client is done (smtpd, the delivery agents).
 *	                 The descriptor is blocking, and the skeleton
 *	                 closes it when serve() returns.
 *	  SERVER_MULTI   an event loop; serve() registers the client with
 *	                 srv->loop and calls server_client_done() when it
 *	                 closes (proxyd, cleanup, anvil, qmgr). The
 *	                 descriptor is non-blocking and the daemon's to
 *	                 close.
 *
 *	Run by hand without a listener on fd 3, a daemon says it is started
 *	by master and exits 1; "-S" (stand-alone, for tests) serves one
 *	client on standard input instead.
 *
 *	It reports busy/idle to master through the status pipe (a fixed
 *	struct server_status, written atomically), exits after max_use
 *	clients or max_idle idle seconds (never for service_start = always),
 *	and exits when master goes away or sends SIGTERM. SIGHUP asks the
 *	process to finish its current clients and exit (master uses it on
 *	reload for services whose line changed or vanished).
 */
#ifndef POSTERN_SERVER_H
#define POSTERN_SERVER_H

#include "sys_defs.h"

#include "params.h"

#define SERVER_LISTEN_FD 3
#define SERVER_STATUS_FD 4
#define SERVER_MASTER_FD 5

enum server_state {
	SERVER_STATUS_IDLE = 0,
	SERVER_STATUS_BUSY = 1,
	SERVER_STATUS_GONE = 2, /* winding down: do not count me any more */
};

/* One status report: small and fixed so a pipe write is atomic. */
struct server_status {
	int32_t pid;
	int32_t state;
};

enum server_model {
	SERVER_SINGLE,
	SERVER_MULTI,
};

struct ev_loop;
struct server;

struct server_spec {
	const char *name; /* program name in logs */
	enum server_model model;
	void (*pre_init)(struct server *srv);  /* optional, privileged */
	void (*post_init)(struct server *srv); /* optional, unprivileged */
	void (*serve)(struct server *srv, int client_fd);
	void (*pre_exit)(struct server *srv); /* optional */
	/* MULTI, optional: winding down began; close the clients that
	 * only wait for more requests */
	void (*wind_down)(struct server *srv);
};

struct server {
	const struct server_spec *spec;
	struct config cfg;
	const char *config_dir;
	const char *service_name;
	const char *user; /* NULL: keep the current identity */
	bool chroot;
	int listen_fd;        /* -1 when run without master */
	struct ev_loop *loop; /* SERVER_MULTI only */
	int argc;             /* service arguments after "--" */
	char **argv;
	unsigned long clients_served;
	unsigned clients_active;
	bool stopping;
	void *ctx; /* the daemon's own state */
};

NORETURN void server_main(int argc, char **argv,
			  const struct server_spec *spec);
void server_client_done(struct server *srv);
void server_stop(struct server *srv);

#endif
