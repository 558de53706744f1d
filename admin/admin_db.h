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

/* admin_print_rows - every row as "column: value" lines, a blank line
 * between rows (text), or a JSON array / object (--json). Columns whose
 * name ends in a type hint are typed: booleans, integers and RFC 3339
 * times become JSON booleans, numbers and strings. */
int admin_print_rows(const struct admin_ctx *ctx, PGresult *res, bool object);

#endif
