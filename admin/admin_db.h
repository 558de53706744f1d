/*
 * NAME
 *	admin_db.h - the data layer of the admin command
 * DESCRIPTION
 *	Schema migrations (admin_db.c) and the helpers the data verbs
 *	share (admin_db.c): address and size parsing, running a query
 *	with bind parameters and mapping its SQLSTATE to an exit code,
 *	and printing rows as text or JSON.
 */
#ifndef POSTERN_ADMIN_DB_H
#define POSTERN_ADMIN_DB_H

#include "sys_defs.h"

#include <libpq-fe.h>

struct strbuf;
struct admin_ctx;

/* Schema versions. */
int schema_apply(PGconn *conn, const char *schema_dir, struct strbuf *why);
int schema_versions(PGconn *conn, const char *schema_dir, int *db_version_r,
		    int *known_version_r, struct strbuf *why);

/* Input checks: 0 ok, -1 malformed (the caller says so, exit 65). */
int admin_check_domain(const char *domain);
int admin_check_address(const char *address, bool allow_catchall);
void admin_lowercase(char *s);
char *admin_mailbox_address(const char *arg); /* NULL: said, exit 65 */
int admin_parse_size(const char *text, long long *bytes_r);
int admin_parse_yesno(const char *text, bool *val_r);

/*
 * admin_sql - run a statement with text parameters (never spliced).
 * Returns the result (PGRES_COMMAND_OK or PGRES_TUPLES_OK) or NULL
 * after printing one line; *code_r gets the exit code: 73 unique
 * violation, 67 foreign key violation, 65 check violation, 75 lost
 * connection or other server errors.
 */
PGresult *admin_sql(PGconn *conn, int *code_r, const char *what,
		    const char *sql, int nparams, const char *const *params);

/* The limits of one domain, with its current use. */
struct admin_domain_limits {
	long long max_mailboxes, max_aliases; /* 0 = unlimited */
	long long quota, mailbox_quota, max_mailbox_quota;
	long long mailboxes, aliases, quota_used;
	bool active;
};

/* admin_domain_get - 1 found, 0 absent, -1 error (printed, *code_r);
 * lock: FOR UPDATE, inside a transaction, so limit checks serialise. */
int admin_domain_get(PGconn *conn, const char *domain, bool lock,
		     struct admin_domain_limits *lim, int *code_r);
int admin_begin(PGconn *conn, int *code_r);
int admin_commit(PGconn *conn, int *code_r);
void admin_rollback(PGconn *conn);
long long admin_ll(PGresult *res, int row, int col);

/* admin_print_rows - every row as "column: value" lines, a blank line
 * between rows (text), or a JSON array / object (--json). Columns whose
 * name ends in a type hint are typed: booleans, integers and RFC 3339
 * times become JSON booleans, numbers and strings. */
int admin_print_rows(const struct admin_ctx *ctx, PGresult *res, bool object);

/* admin_list_rows - print a list query's rows, optionally for one DOMAIN */
int admin_list_rows(struct admin_ctx *ctx, const char *domain_arg,
		    const char *sql_all, const char *sql_domain);

#endif
