/*
 * NAME
 *	testsvc - a tiny service on the daemon skeleton, for master's tests
 * SYNOPSIS
 *	testsvc -c DIR -n SERVICE [-u USER] [-o name=value]... -- MODE
 * DESCRIPTION
 *	A SERVER_SINGLE service started by master like any daemon. MODE:
 *
 *	echo	read one line and answer "pid=PID uid=UID gid=GID LINE",
 *		then wait until the client closes the connection.
 *	sleep	answer "pid=PID" and hold the connection until the client
 *		closes it.
 *	exit	log "testsvc: exiting at once" and exit 1 right after
 *		start (throttle tests).
 *	mecho	the same as echo, but as a SERVER_MULTI service: one
 *		process serves any number of clients at once from its
 *		event loop.
 *
 *	Each process logs "testsvc: started" once, after dropping
 *	privileges, so tests can count starts in the maillog.
 * DIAGNOSTICS
 *	Unknown modes are fatal.
 * SEE ALSO
 *	tests/integration/test_master.py, lib/server.h
 */
#include "sys_defs.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "event.h"
#include "log.h"
#include "server.h"
#include "strbuf.h"
#include "xalloc.h"

enum testsvc_mode {
	TESTSVC_ECHO,
	TESTSVC_SLEEP,
	TESTSVC_EXIT,
	TESTSVC_MECHO,
};

/* One MULTI client: the line read so far. */
struct testsvc_client {
	struct server *srv;
	char line[256];
	size_t len;
	bool answered;
};

static enum testsvc_mode testsvc_mode;

/* testsvc_post_init - pick the mode from the service arguments */
static void testsvc_post_init(struct server *srv)
{
	const char *mode = srv->argc > 0 ? srv->argv[0] : "echo";

	if (strcmp(mode, "echo") == 0)
		testsvc_mode = TESTSVC_ECHO;
	else if (strcmp(mode, "sleep") == 0)
		testsvc_mode = TESTSVC_SLEEP;
	else if (strcmp(mode, "exit") == 0)
		testsvc_mode = TESTSVC_EXIT;
	else if (strcmp(mode, "mecho") == 0)
		testsvc_mode = TESTSVC_MECHO;
	else
		log_fatal("unknown mode \"%s\"", mode);
	log_info("testsvc: started (%s, service %s)", mode, srv->service_name);
	if (testsvc_mode == TESTSVC_EXIT) {
		log_info("testsvc: exiting at once");
		exit(1);
	}
}

/* testsvc_write - write a whole string, ignoring errors */
static void testsvc_write(int fd, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, s, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		s += n;
		len -= (size_t)n;
	}
}

/* testsvc_drain - read until the client closes */
static void testsvc_drain(int fd)
{
	char buf[512];
	ssize_t n;

	do
		n = read(fd, buf, sizeof(buf));
	while (n > 0 || (n < 0 && errno == EINTR));
}

/* testsvc_answer - the echo line for a client */
static void testsvc_answer(int fd, const char *line)
{
	struct strbuf *out = strbuf_alloc(256);

	strbuf_printf(out, "pid=%ld uid=%ld gid=%ld %s\n", (long)getpid(),
		      (long)getuid(), (long)getgid(), line);
	testsvc_write(fd, out->data, out->len);
	strbuf_free(&out);
}

/* testsvc_serve - one client */
static void testsvc_serve(struct server *srv, int fd)
{
	struct strbuf *out = strbuf_alloc(256);
	char line[256];
	size_t len = 0;
	ssize_t n;

	(void)srv;
	if (testsvc_mode == TESTSVC_SLEEP) {
		strbuf_printf(out, "pid=%ld\n", (long)getpid());
		testsvc_write(fd, out->data, out->len);
		testsvc_drain(fd);
		strbuf_free(&out);
		return;
	}
	while (len < sizeof(line) - 1) {
		n = read(fd, line + len, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || line[len] == '\n')
			break;
		len++;
	}
	line[len] = '\0';
	if (len > 0 && line[len - 1] == '\r')
		line[len - 1] = '\0';
	strbuf_free(&out);
	testsvc_answer(fd, line);
	testsvc_drain(fd);
}

/* testsvc_multi_read - MULTI: a client sent data or closed */
static void testsvc_multi_read(struct ev_loop *loop, int fd, int events,
			       void *ctx)
{
	struct testsvc_client *c = ctx;
	char buf[256];
	ssize_t n;
	ssize_t i;

	(void)events;
	n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		struct server *srv = c->srv;

		ev_fd_del(loop, fd);
		(void)close(fd);
		free(c);
		server_client_done(srv);
		return;
	}
	for (i = 0; i < n && !c->answered; i++) {
		if (buf[i] == '\n' || c->len == sizeof(c->line) - 1) {
			c->line[c->len] = '\0';
			if (c->len > 0 && c->line[c->len - 1] == '\r')
				c->line[c->len - 1] = '\0';
			testsvc_answer(fd, c->line);
			c->answered = true;
		} else {
			c->line[c->len++] = buf[i];
		}
	}
}

/* testsvc_multi_serve - MULTI: register a client with the loop */
static void testsvc_multi_serve(struct server *srv, int fd)
{
	struct testsvc_client *c = xcalloc(1, sizeof(*c));

	c->srv = srv;
	ev_fd_set(srv->loop, fd, EV_READ, testsvc_multi_read, c);
}

/* testsvc_is_multi - does the command line ask for mode mecho */
static bool testsvc_is_multi(int argc, char **argv)
{
	int i;

	for (i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], "--") == 0)
			return strcmp(argv[i + 1], "mecho") == 0;
	return false;
}

/* main - the skeleton does the rest */
int main(int argc, char **argv)
{
	bool multi = testsvc_is_multi(argc, argv);

	server_main(argc, argv,
		    &(const struct server_spec){
			.name = "testsvc",
			.model = multi ? SERVER_MULTI : SERVER_SINGLE,
			.post_init = testsvc_post_init,
			.serve = multi ? testsvc_multi_serve : testsvc_serve,
		    });
}
