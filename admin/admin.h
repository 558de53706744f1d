/*
 * NAME
 *	admin.h - the postern admin command: shared context and verb table
 * DESCRIPTION
 *	`postern [-c DIR] NOUN [VERB] [ARGS] [--json]` dispatches through
 *	the table in admin/main.c. Each verb is a function
 *
 *	  int admin_<noun>_<verb>(struct admin_ctx *ctx, int argc,
 *				  char **argv);
 *
 *	that returns the process exit code. argv[0] is the verb word (or
 *	the noun of a one-word command such as "init"); options and
 *	operands follow, so getopt_long() works directly (main resets
 *	optind before the call). "--json" has already been removed from
 *	argv and set ctx->json. When the table entry says needs_config,
 *	ctx->cfg holds the loaded postern.conf of ctx->config_dir.
 *
 *	Adding a verb: write admin/admin_<noun>.c, declare its functions
 *	in the marked block below, and add one line per verb to the
 *	marked block of the table in admin/main.c.
 *
 *	Errors: return admin_fail(code, "what went wrong"), which prints
 *	one line "postern: what went wrong" on stderr. Exit codes follow
 *	DESIGN.md section 8 (the ADMIN_EX_* names below).
 */
#ifndef POSTERN_ADMIN_H
#define POSTERN_ADMIN_H

#include "sys_defs.h"

#include <sysexits.h>
#include <libpq-fe.h>

#include "params.h"

struct strbuf;

/* Exit codes (DESIGN.md section 8). */
#define ADMIN_EX_OK 0
#define POSTERN_EX_NOTFOUND 1       /* show/lookup/del of something absent */
#define ADMIN_EX_USAGE EX_USAGE     /* 64 */
#define ADMIN_EX_DATAERR EX_DATAERR /* 65 malformed address, size */
#define ADMIN_EX_NOUSER EX_NOUSER   /* 67 unknown domain/user needed */
#define ADMIN_EX_UNAVAILABLE EX_UNAVAILABLE /* 69 server not running */
#define ADMIN_EX_SOFTWARE EX_SOFTWARE       /* 70 internal error */
#define ADMIN_EX_OSERR EX_OSERR             /* 71 system call failed */
#define ADMIN_EX_CANTCREAT EX_CANTCREAT     /* 73 already exists */
#define ADMIN_EX_IOERR EX_IOERR             /* 74 */
#define ADMIN_EX_TEMPFAIL EX_TEMPFAIL       /* 75 database unreachable */
#define ADMIN_EX_NOPERM EX_NOPERM           /* 77 permission denied */
#define ADMIN_EX_CONFIG EX_CONFIG           /* 78 configuration error */
#define POSTERN_EX_LIMIT 78 /* a domain limit would be exceeded */
#define STATUS_STOPPED 3    /* `postern status`: not running */

struct admin_ctx {
	const char *progname;   /* "postern" */
	const char *config_dir; /* -c DIR, $POSTERN_CONFIG or the default */
	bool config_dir_given;  /* -c or $POSTERN_CONFIG was used */
	struct config cfg;      /* loaded when the verb needs_config */
	bool cfg_loaded;
	bool json; /* --json anywhere on the command line */
};

struct admin_verb {
	const char *noun;
	const char *verb; /* NULL: a one-word command ("init", "start") */
	int (*run)(struct admin_ctx *ctx, int argc, char **argv);
	const char *usage; /* arguments after "noun verb", for help */
	bool needs_config; /* load DIR/postern.conf into ctx->cfg first */
};

/* main.c: reporting and shared helpers. */
int admin_fail(int code, const char *fmt, ...) PRINTFLIKE(2, 3);
void admin_warn(const char *fmt, ...) PRINTFLIKE(1, 2);
void admin_log_quiet(bool quiet);
int admin_usage(const struct admin_ctx *ctx, const char *noun,
		const char *verb);
int admin_load_config(struct admin_ctx *ctx);

/* admin_util.c: database, passwords, paths. */
int admin_db_connect(struct admin_ctx *ctx, PGconn **conn_r);
int admin_read_password(bool from_stdin, bool confirm, struct strbuf *out);
const char *admin_exe_dir(void);
const char *admin_source_root(void);
const char *admin_daemon_dir(void);
char *admin_share_dir(const char *what); /* caller frees */

/* admin_init.c */
int admin_init(struct admin_ctx *ctx, int argc, char **argv);
int admin_accounts(struct admin_ctx *ctx, int argc, char **argv);

/* admin_control.c */
int admin_start(struct admin_ctx *ctx, int argc, char **argv);
int admin_stop(struct admin_ctx *ctx, int argc, char **argv);
int admin_reload(struct admin_ctx *ctx, int argc, char **argv);
int admin_reopen(struct admin_ctx *ctx, int argc, char **argv);
int admin_status(struct admin_ctx *ctx, int argc, char **argv);

/* admin_config.c */
int admin_config_show(struct admin_ctx *ctx, int argc, char **argv);
int admin_config_check(struct admin_ctx *ctx, int argc, char **argv);

/*
 * Schema hook for `postern init --embedded-db` (admin/admin_db.c).
 * Declared weak: init calls it only when it is linked in. Returns 0, or
 * -1 with *why explaining.
 */
int schema_apply(PGconn *conn, const char *schema_dir, struct strbuf *why)
    __attribute__((weak));

/* ---- Verbs of other admin files: declare them here. ---- */
/* (admin_db.c, admin_domain.c, admin_mailbox.c, admin_alias.c,
 *  admin_lookup.c, admin_quota.c, admin_queue.c ...) */

/* admin_db.c, admin_domain.c, admin_mailbox.c, admin_alias.c,
 * admin_lookup.c: the data layer (helpers in admin_db.h) */
int admin_db_init(struct admin_ctx *ctx, int argc, char **argv);
int admin_db_migrate(struct admin_ctx *ctx, int argc, char **argv);
int admin_db_status(struct admin_ctx *ctx, int argc, char **argv);
int admin_domain_add(struct admin_ctx *ctx, int argc, char **argv);
int admin_domain_del(struct admin_ctx *ctx, int argc, char **argv);
int admin_domain_list(struct admin_ctx *ctx, int argc, char **argv);
int admin_domain_show(struct admin_ctx *ctx, int argc, char **argv);
int admin_mailbox_add(struct admin_ctx *ctx, int argc, char **argv);
int admin_mailbox_del(struct admin_ctx *ctx, int argc, char **argv);
int admin_mailbox_list(struct admin_ctx *ctx, int argc, char **argv);
int admin_mailbox_show(struct admin_ctx *ctx, int argc, char **argv);
int admin_mailbox_passwd(struct admin_ctx *ctx, int argc, char **argv);
int admin_mailbox_enable(struct admin_ctx *ctx, int argc, char **argv);
int admin_mailbox_disable(struct admin_ctx *ctx, int argc, char **argv);
int admin_alias_add(struct admin_ctx *ctx, int argc, char **argv);
int admin_alias_del(struct admin_ctx *ctx, int argc, char **argv);
int admin_alias_list(struct admin_ctx *ctx, int argc, char **argv);
int admin_alias_domain_add(struct admin_ctx *ctx, int argc, char **argv);
int admin_alias_domain_del(struct admin_ctx *ctx, int argc, char **argv);
int admin_alias_domain_list(struct admin_ctx *ctx, int argc, char **argv);
int admin_lookup(struct admin_ctx *ctx, int argc, char **argv);

/* admin_quota.c */
int admin_quota_show(struct admin_ctx *ctx, int argc, char **argv);
int admin_quota_recalc(struct admin_ctx *ctx, int argc, char **argv);

/* admin_queue.c */
int admin_queue_list(struct admin_ctx *ctx, int argc, char **argv);
int admin_queue_show(struct admin_ctx *ctx, int argc, char **argv);
int admin_queue_flush(struct admin_ctx *ctx, int argc, char **argv);
int admin_queue_delete(struct admin_ctx *ctx, int argc, char **argv);
int admin_queue_hold(struct admin_ctx *ctx, int argc, char **argv);
int admin_queue_release(struct admin_ctx *ctx, int argc, char **argv);

/* ---- end of other files' verbs ---- */

#endif
