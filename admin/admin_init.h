/*
 * NAME
 *	admin_init.h - private interfaces of postern init
 * DESCRIPTION
 *	Shared by admin_init.c (layout, configuration, TLS),
 *	admin_initdb.c (the embedded PostgreSQL cluster) and
 *	admin_accounts.c (system accounts).
 */
#ifndef POSTERN_ADMIN_INIT_H
#define POSTERN_ADMIN_INIT_H

#include "sys_defs.h"

#include <sys/stat.h>

struct strbuf;

struct init_opts {
	char *dir; /* absolute, owned */
	bool embedded;
	const char *db_conninfo;
	const char *smtp;
	const char *submission;
	const char *submissions;
	const char *hostname;
	const char *postmaster;
};

struct init_owner {
	uid_t uid;
	gid_t gid;
};

/* When not root, every owner is the invoking user. */
struct init_ids {
	struct init_owner root;
	struct init_owner postern; /* postern:postern */
	struct init_owner proxy;   /* postern-proxy */
	struct init_owner vmail;   /* vmail:vmail */
	struct init_owner db;      /* postern-db (embedded only) */
};

int init_mkdir(const char *dir, const char *rel, mode_t mode,
	       const struct init_owner *o);
int init_write(const char *dir, const char *rel, const char *text, mode_t mode,
	       const struct init_owner *o);
void init_conf_set(struct strbuf *text, const char *name, const char *value);

int admin_initdb(const struct init_opts *o, const struct init_ids *ids,
		 const char **note_r);

int admin_accounts_create(bool embedded_db, bool verbose);
int admin_run_argv(const char *const *argv);

#endif
