/*
 * NAME
 *	pgembed.h - the embedded PostgreSQL cluster of an instance
 * DESCRIPTION
 *	An instance made with `postern init --embedded-db` keeps a private
 *	cluster in embedded_database_directory (DIR/pgsql): data/ (0700,
 *	owner embedded_database_user), run/ (the unix socket directory; no
 *	TCP) and log/postgresql.log. master starts it before its services
 *	and stops it after them; it is never restarted behind the
 *	operator's back.
 *
 *	The PostgreSQL programs are Debian's, from the highest
 *	/usr/lib/postgresql/<version>/bin. They run as
 *	embedded_database_user when the caller is root (initdb refuses
 *	root), else as the caller, through fork and execv with a fixed
 *	argv and a small fixed environment; never through a shell.
 *
 *	pgembed_start() and pgembed_stop() do nothing and return 0 when
 *	embedded_database_directory is empty. pgembed_start() returns 0
 *	when the cluster is already running. All functions return 0, or -1
 *	with a reason in why (including the tail of pg_ctl's output).
 */
#ifndef POSTERN_PGEMBED_H
#define POSTERN_PGEMBED_H

#include "sys_defs.h"

struct config;
struct strbuf;

int pgembed_start(const struct config *cfg, struct strbuf *why);
int pgembed_stop(const struct config *cfg, struct strbuf *why);
int pgembed_running(const struct config *cfg);

/* Lower level, for `postern init`. */
int pgembed_bindir(struct strbuf *out);
int pgembed_run(const char *user, const char *const *argv, struct strbuf *out);
int pgembed_ctl(const char *dir, const char *user, const char *action,
		struct strbuf *why);

#endif
