/*
 * NAME
 *	admin_db - schema migrations, `postern db`, shared data-verb helpers
 * SYNOPSIS
 *	postern db init | migrate | status [--json]
 *
 *	int schema_apply(PGconn *conn, const char *schema_dir,
 *			 struct strbuf *why);
 * DESCRIPTION
 *	The schema is a directory of versioned migrations, NNN_name.sql
 *	(schema/ in the source tree, SHAREDIR/schema when installed),
 *	applied in order. schema_apply() runs, in one transaction: create
 *	the bookkeeping table postern_schema if missing, lock it (two
 *	concurrent runs serialise), read the highest applied version,
 *	refuse a database newer than the newest file, then run each newer
 *	file and record its version. Running it again does nothing, so
 *	`db init` and `db migrate` are both idempotent; `postern init`
 *	calls the same function.
 *
 *	`db status` prints the database's version, the newest known one,
 *	and the migrations still to apply.
 *
 *	The helpers shared by the domain, mailbox and alias verbs live
 *	here too: address and size checks, admin_sql() (bind parameters
 *	only; SQLSTATE mapped to DESIGN.md section 8 exit codes) and
 *	admin_print_rows() (text or jansson JSON).
 * DIAGNOSTICS
 *	schema_apply() returns 0, or -1 with *why set (the transaction is
 *	rolled back). The verbs exit 0, 75 when the database cannot be
 *	reached or a statement fails, 78 when the database is newer than
 *	this program.
 * SEE ALSO
 *	docs/schema.md, schema/NNN_name.sql, DESIGN.md sections 6 and 8.
 */
#include "sys_defs.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>

#include "cfg.h"
#include "strbuf.h"
#include "xalloc.h"
#include "admin.h"
#include "admin_db.h"

#define SCHEMA_FILE_MAX (1 << 20)

#define PG_BOOLOID 16
#define PG_INT8OID 20
#define PG_INT2OID 21
#define PG_INT4OID 23

struct schema_file {
	int version;
	char *name;
	char *path;
};

/* schema_cmp - order migrations by version */
static int schema_cmp(const void *a, const void *b)
{
	const struct schema_file *fa = a, *fb = b;

	return (fa->version > fb->version) - (fa->version < fb->version);
}

/* schema_list - the NNN_name.sql files of a directory, sorted */
static int schema_list(const char *dir, struct schema_file **files_r,
		       size_t *count_r, struct strbuf *why)
{
	struct schema_file *files = NULL;
	size_t n = 0, i;
	struct dirent *de;
	DIR *dp;

	if ((dp = opendir(dir)) == NULL) {
		strbuf_printf(why, "open schema directory %s: %s", dir,
			      strerror(errno));
		return -1;
	}
	while ((de = readdir(dp)) != NULL) {
		const char *s = de->d_name;
		size_t len = strlen(s);

		if (len < 9 || !isdigit((unsigned char)s[0]) ||
		    !isdigit((unsigned char)s[1]) ||
		    !isdigit((unsigned char)s[2]) || s[3] != '_' ||
		    strcmp(s + len - 4, ".sql") != 0)
			continue;
		files = xreallocarray(files, n + 1, sizeof(*files));
		files[n].version =
		    (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
		files[n].name = xstrndup(s, len - 4);
		files[n].path = xasprintf("%s/%s", dir, s);
		n++;
	}
	closedir(dp);
	if (n > 1) /* qsort(NULL, 0, ...) is undefined */
		qsort(files, n, sizeof(*files), schema_cmp);
	for (i = 1; i < n; i++) {
		if (files[i].version == files[i - 1].version) {
			strbuf_printf(why,
				      "schema directory %s: two files "
				      "for version %d",
				      dir, files[i].version);
			break;
		}
	}
	*files_r = files;
	*count_r = n;
	if (n == 0) {
		strbuf_printf(why,
			      "schema directory %s: no NNN_name.sql "
			      "files",
			      dir);
		return -1;
	}
	return i < n ? -1 : 0;
}

/* schema_free - release a file list */
static void schema_free(struct schema_file *files, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(files[i].name);
		free(files[i].path);
	}
	free(files);
}

/* schema_exec - run SQL text; 0 or -1 with the server's message */
static int schema_exec(PGconn *conn, const char *sql, const char *what,
		       struct strbuf *why)
{
	PGresult *res = PQexec(conn, sql);
	int st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	int ret = 0;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		const char *msg =
		    res ? PQresultErrorMessage(res) : PQerrorMessage(conn);
		size_t len = strlen(msg);

		while (len > 0 && isspace((unsigned char)msg[len - 1]))
			len--;
		strbuf_printf(why, "%s: %.*s", what, (int)len, msg);
		ret = -1;
	}
	PQclear(res);
	return ret;
}

/* schema_read - a migration file's text */
static int schema_read(const char *path, struct strbuf *text,
		       struct strbuf *why)
{
	FILE *fp = fopen(path, "r");
	char buf[4096];
	size_t n;

	if (fp == NULL) {
		strbuf_printf(why, "open %s: %s", path, strerror(errno));
		return -1;
	}
	strbuf_reset(text);
	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0) {
		if (strbuf_len(text) + n > SCHEMA_FILE_MAX) {
			fclose(fp);
			strbuf_printf(why, "%s: file too large", path);
			return -1;
		}
		strbuf_catn(text, buf, n);
	}
	if (ferror(fp)) {
		strbuf_printf(why, "read %s: %s", path, strerror(errno));
		fclose(fp);
		return -1;
	}
	fclose(fp);
	if (memchr(text->data, '\0', text->len) != NULL) {
		strbuf_printf(why, "%s: NUL byte in the file", path);
		return -1;
	}
	return 0;
}

/* schema_db_version - highest applied version (table must exist) */
static int schema_db_version(PGconn *conn, int *version_r, struct strbuf *why)
{
	PGresult *res = PQexec(conn, "SELECT coalesce(max(version), 0) "
				     "FROM postern_schema");
	long long v;
	const char *err;

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK ||
	    PQntuples(res) != 1 ||
	    cfg_parse_int(PQgetvalue(res, 0, 0), 0, 999, &v, &err) < 0) {
		strbuf_printf(why, "reading the schema version: %s",
			      res ? PQresultErrorMessage(res)
				  : PQerrorMessage(conn));
		PQclear(res);
		return -1;
	}
	PQclear(res);
	*version_r = (int)v;
	return 0;
}

/* schema_apply_files - the transaction's body */
static int schema_apply_files(PGconn *conn, struct schema_file *files, size_t n,
			      struct strbuf *why)
{
	struct strbuf text;
	char vbuf[16];
	int current, ret = 0;
	size_t i;

	if (schema_exec(conn, "SET LOCAL client_min_messages = warning",
			"set client_min_messages", why) < 0 ||
	    schema_exec(conn,
			"CREATE TABLE IF NOT EXISTS postern_schema ("
			"version integer PRIMARY KEY, name text NOT NULL, "
			"applied timestamptz NOT NULL DEFAULT now())",
			"create postern_schema", why) < 0 ||
	    schema_exec(conn, "LOCK TABLE postern_schema IN EXCLUSIVE MODE",
			"lock postern_schema", why) < 0 ||
	    schema_db_version(conn, &current, why) < 0)
		return -1;
	if (current > files[n - 1].version) {
		strbuf_printf(why,
			      "the database has schema version %d, newer "
			      "than this program knows (%d): upgrade postern",
			      current, files[n - 1].version);
		return -2;
	}
	strbuf_init(&text, 8192);
	for (i = 0; i < n && ret == 0; i++) {
		const char *params[2];
		PGresult *res;

		if (files[i].version <= current)
			continue;
		if (schema_read(files[i].path, &text, why) < 0 ||
		    schema_exec(conn, strbuf_str(&text), files[i].path, why) <
			0) {
			ret = -1;
			break;
		}
		snprintf(vbuf, sizeof(vbuf), "%d", files[i].version);
		params[0] = vbuf;
		params[1] = files[i].name;
		res = PQexecParams(conn,
				   "INSERT INTO postern_schema (version, name) "
				   "VALUES ($1, $2)",
				   2, NULL, params, NULL, NULL, 0);
		if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
			strbuf_printf(why, "recording version %d: %s",
				      files[i].version, PQerrorMessage(conn));
			ret = -1;
		}
		PQclear(res);
	}
	strbuf_release(&text);
	return ret;
}

/* schema_apply - bring the database up to the newest migration */
int schema_apply(PGconn *conn, const char *schema_dir, struct strbuf *why)
{
	struct schema_file *files = NULL;
	struct strbuf ignore;
	size_t n = 0;
	int ret;

	if (schema_list(schema_dir, &files, &n, why) < 0) {
		schema_free(files, n);
		return -1;
	}
	if (schema_exec(conn, "BEGIN", "begin", why) < 0) {
		schema_free(files, n);
		return -1;
	}
	ret = schema_apply_files(conn, files, n, why);
	strbuf_init(&ignore, 64);
	if (ret == 0)
		ret = schema_exec(conn, "COMMIT", "commit", why);
	else
		(void)schema_exec(conn, "ROLLBACK", "rollback", &ignore);
	strbuf_release(&ignore);
	schema_free(files, n);
	return ret;
}

/* schema_versions - the database's version and the newest known one */
int schema_versions(PGconn *conn, const char *schema_dir, int *db_version_r,
		    int *known_version_r, struct strbuf *why)
{
	struct schema_file *files = NULL;
	size_t n = 0;
	PGresult *res;
	int ret = 0;

	*db_version_r = 0;
	*known_version_r = 0;
	if (schema_list(schema_dir, &files, &n, why) < 0) {
		schema_free(files, n);
		return -1;
	}
	*known_version_r = files[n - 1].version;
	schema_free(files, n);
	res = PQexec(conn, "SELECT to_regclass('postern_schema') IS NOT NULL");
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
		strbuf_printf(why, "%s", PQerrorMessage(conn));
		ret = -1;
	} else if (strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
		ret = schema_db_version(conn, db_version_r, why);
	}
	PQclear(res);
	return ret;
}

/* ---- Shared helpers of the data verbs. ---- */

/* admin_lowercase - ASCII lowercase in place */
void admin_lowercase(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* admin_check_domain - a DNS name: labels of [a-z0-9-], no edge '-' */
int admin_check_domain(const char *domain)
{
	size_t len = strlen(domain), label = 0;
	const char *p;

	if (len == 0 || len > 253)
		return -1;
	for (p = domain; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '.') {
			if (label == 0 || p[-1] == '-')
				return -1;
			label = 0;
			continue;
		}
		if (!isalnum(c) && c != '-')
			return -1;
		if (c == '-' && label == 0)
			return -1;
		if (++label > 63)
			return -1;
	}
	return label == 0 || p[-1] == '-' ? -1 : 0;
}

/* admin_check_address - local@domain (or @domain for a catch-all) */
int admin_check_address(const char *address, bool allow_catchall)
{
	const char *at = strrchr(address, '@');
	const unsigned char *p;

	if (at == NULL || strlen(address) > 254)
		return -1;
	if (at == address && !allow_catchall)
		return -1;
	if (at - address > 64)
		return -1;
	/* The local part: printable ASCII without space, quotes,
	 * backslash, comma (the goto separator), angle brackets or '@'. */
	for (p = (const unsigned char *)address; p < (const unsigned char *)at;
	     p++) {
		if (*p <= ' ' || *p >= 0x7f || strchr("\"\\,<>@()[]:;", *p))
			return -1;
	}
	if (at > address && (address[0] == '.' || at[-1] == '.' ||
			     strstr(address, "..") != NULL))
		return -1;
	return admin_check_domain(at + 1);
}

/* admin_mailbox_address - a mailbox ADDRESS operand lowercased, or NULL
 * after a message when it is malformed (exit ADMIN_EX_DATAERR) */
char *admin_mailbox_address(const char *arg)
{
	char *addr = xstrdup(arg);

	admin_lowercase(addr);
	if (admin_check_address(addr, false) < 0 || strchr(addr, '/') != NULL) {
		admin_fail(ADMIN_EX_DATAERR,
			   "%s: malformed address (expected local@domain)",
			   arg);
		xfree(&addr);
	}
	return addr;
}

/* admin_parse_size - "10M", "2G", "0" (unlimited) into bytes */
int admin_parse_size(const char *text, long long *bytes_r)
{
	const char *err;

	return cfg_parse_size(text, 0, (long long)1 << 60, bytes_r, &err);
}

/* admin_parse_yesno - yes/no (also true/false, 1/0) */
int admin_parse_yesno(const char *text, bool *val_r)
{
	const char *err;

	return cfg_parse_bool(text, val_r, &err);
}

/* admin_sql - one statement with text parameters */
PGresult *admin_sql(PGconn *conn, int *code_r, const char *what,
		    const char *sql, int nparams, const char *const *params)
{
	PGresult *res;
	const char *state, *msg;
	int st;
	size_t len;

	res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		*code_r = 0;
		return res;
	}
	state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (msg == NULL)
		msg = PQerrorMessage(conn);
	len = strlen(msg);
	while (len > 0 && isspace((unsigned char)msg[len - 1]))
		len--;
	if (state != NULL && strcmp(state, "23505") == 0)
		*code_r =
		    admin_fail(ADMIN_EX_CANTCREAT, "%s: already exists", what);
	else if (state != NULL && strcmp(state, "23503") == 0)
		*code_r =
		    admin_fail(ADMIN_EX_NOUSER, "%s: unknown domain", what);
	else if (state != NULL &&
		 (strcmp(state, "23514") == 0 || strcmp(state, "22001") == 0))
		*code_r = admin_fail(ADMIN_EX_DATAERR, "%s: %.*s", what,
				     (int)len, msg);
	else
		*code_r = admin_fail(ADMIN_EX_TEMPFAIL,
				     "%s: database error: "
				     "%.*s",
				     what, (int)len, msg);
	PQclear(res);
	return NULL;
}

/* admin_ll - a numeric field (0 when NULL or malformed) */
long long admin_ll(PGresult *res, int row, int col)
{
	long long v;
	const char *err;

	if (PQgetisnull(res, row, col) ||
	    cfg_parse_int(PQgetvalue(res, row, col), LLONG_MIN, LLONG_MAX, &v,
			  &err) < 0)
		return 0;
	return v;
}

/* admin_begin - start a transaction */
int admin_begin(PGconn *conn, int *code_r)
{
	PGresult *res = admin_sql(conn, code_r, "begin", "BEGIN", 0, NULL);

	PQclear(res);
	return res ? 0 : -1;
}

/* admin_commit - commit; -1 (printed) on failure */
int admin_commit(PGconn *conn, int *code_r)
{
	PGresult *res = admin_sql(conn, code_r, "commit", "COMMIT", 0, NULL);

	PQclear(res);
	return res ? 0 : -1;
}

/* admin_rollback - abandon the transaction */
void admin_rollback(PGconn *conn)
{
	PQclear(PQexec(conn, "ROLLBACK"));
}

/* admin_domain_get - a domain's limits and current use */
int admin_domain_get(PGconn *conn, const char *domain, bool lock,
		     struct admin_domain_limits *lim, int *code_r)
{
	const char *params[1] = {domain};
	PGresult *res;

	res = admin_sql(
	    conn, code_r, domain,
	    lock ? "SELECT mailboxes, aliases, quota, mailbox_quota, "
		   "maxquota, active FROM domain WHERE domain = $1 FOR UPDATE"
		 : "SELECT mailboxes, aliases, quota, mailbox_quota, "
		   "maxquota, active FROM domain WHERE domain = $1",
	    1, params);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return 0;
	}
	memset(lim, 0, sizeof(*lim));
	lim->max_mailboxes = admin_ll(res, 0, 0);
	lim->max_aliases = admin_ll(res, 0, 1);
	lim->quota = admin_ll(res, 0, 2);
	lim->mailbox_quota = admin_ll(res, 0, 3);
	lim->max_mailbox_quota = admin_ll(res, 0, 4);
	lim->active = PQgetvalue(res, 0, 5)[0] == 't';
	PQclear(res);
	res = admin_sql(conn, code_r, domain,
			"SELECT (SELECT count(*) FROM mailbox WHERE domain = "
			"$1::text), (SELECT count(*) FROM alias WHERE domain "
			"= $1::text AND address <> 'postmaster@' || $1::text), "
			"(SELECT coalesce(sum(quota), 0) FROM mailbox WHERE "
			"domain = $1::text)",
			1, params);
	if (res == NULL)
		return -1;
	lim->mailboxes = admin_ll(res, 0, 0);
	lim->aliases = admin_ll(res, 0, 1);
	lim->quota_used = admin_ll(res, 0, 2);
	PQclear(res);
	return 1;
}

/* admin_json_value - one field as a typed JSON value */
static json_t *admin_json_value(PGresult *res, int row, int col)
{
	const char *v = PQgetvalue(res, row, col);
	long long n;
	const char *err;

	if (PQgetisnull(res, row, col))
		return json_null();
	switch (PQftype(res, col)) {
	case PG_BOOLOID:
		return json_boolean(v[0] == 't');
	case PG_INT2OID:
	case PG_INT4OID:
	case PG_INT8OID:
		if (cfg_parse_int(v, LLONG_MIN, LLONG_MAX, &n, &err) == 0)
			return json_integer(n);
		break;
	}
	return json_string(v);
}

/* admin_text_value - one field for the text output */
static const char *admin_text_value(PGresult *res, int row, int col)
{
	const char *v = PQgetvalue(res, row, col);

	if (PQftype(res, col) == PG_BOOLOID)
		return v[0] == 't' ? "yes" : "no";
	return v;
}

/* admin_print_text - a table with a header (list) or name: value lines */
static void admin_print_text(PGresult *res, bool object)
{
	int rows = PQntuples(res), cols = PQnfields(res), r, c;
	size_t *width = xcalloc((size_t)cols + 1, sizeof(*width));

	if (object) {
		for (r = 0; r < rows; r++) {
			for (c = 0; c < cols; c++) {
				char label[80];

				snprintf(label, sizeof(label),
					 "%s:", PQfname(res, c));
				printf("%-19s %s\n", label,
				       admin_text_value(res, r, c));
			}
		}
		free(width);
		return;
	}
	for (c = 0; c < cols; c++) {
		width[c] = strlen(PQfname(res, c));
		for (r = 0; r < rows; r++) {
			size_t w = strlen(admin_text_value(res, r, c));

			if (w > width[c])
				width[c] = w;
		}
	}
	for (c = 0; c < cols; c++)
		printf("%-*s%s", c + 1 < cols ? (int)width[c] : 0,
		       PQfname(res, c), c + 1 < cols ? "  " : "\n");
	for (r = 0; r < rows; r++) {
		for (c = 0; c < cols; c++)
			printf("%-*s%s", c + 1 < cols ? (int)width[c] : 0,
			       admin_text_value(res, r, c),
			       c + 1 < cols ? "  " : "\n");
	}
	free(width);
}

/* admin_print_rows - rows as text or JSON */
int admin_print_rows(const struct admin_ctx *ctx, PGresult *res, bool object)
{
	int rows = PQntuples(res), cols = PQnfields(res), r, c;
	json_t *doc;
	char *out;

	if (!ctx->json) {
		admin_print_text(res, object);
		return 0;
	}
	doc = object ? NULL : json_array();
	for (r = 0; r < rows; r++) {
		json_t *o = json_object();

		for (c = 0; c < cols; c++)
			json_object_set_new(o, PQfname(res, c),
					    admin_json_value(res, r, c));
		if (object) {
			doc = o;
			break;
		}
		json_array_append_new(doc, o);
	}
	if (doc == NULL)
		doc = json_object();
	out = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(doc);
	if (out == NULL)
		return admin_fail(ADMIN_EX_SOFTWARE, "cannot format JSON");
	printf("%s\n", out);
	free(out);
	return 0;
}

/* ---- postern db ---- */

/* db_connect_and_dir - the admin connection and the schema directory */
static int db_connect_and_dir(struct admin_ctx *ctx, PGconn **conn_r,
			      char **dir_r)
{
	int rc = admin_db_connect(ctx, conn_r);

	if (rc != 0)
		return rc;
	*dir_r = admin_share_dir("schema");
	return 0;
}

/* db_apply - db init and db migrate */
static int db_apply(struct admin_ctx *ctx, int argc, char **argv,
		    const char *verb)
{
	struct strbuf why;
	PGconn *conn;
	char *dir;
	int before, after, known, rc;

	(void)argv;
	if (argc != 1)
		return admin_usage(ctx, "db", verb);
	if ((rc = db_connect_and_dir(ctx, &conn, &dir)) != 0)
		return rc;
	strbuf_init(&why, 128);
	if (schema_versions(conn, dir, &before, &known, &why) < 0) {
		rc = admin_fail(ADMIN_EX_TEMPFAIL, "%s", strbuf_str(&why));
	} else if ((rc = schema_apply(conn, dir, &why)) < 0) {
		rc = admin_fail(rc == -2 ? ADMIN_EX_CONFIG : ADMIN_EX_TEMPFAIL,
				"%s", strbuf_str(&why));
	} else if (schema_versions(conn, dir, &after, &known, &why) < 0) {
		rc = admin_fail(ADMIN_EX_TEMPFAIL, "%s", strbuf_str(&why));
	} else if (before == after) {
		printf("schema is up to date (version %d)\n", after);
	} else {
		printf("schema migrated from version %d to %d\n", before,
		       after);
	}
	strbuf_release(&why);
	free(dir);
	PQfinish(conn);
	return rc;
}

/* admin_db_init - postern db init */
int admin_db_init(struct admin_ctx *ctx, int argc, char **argv)
{
	return db_apply(ctx, argc, argv, "init");
}

/* admin_db_migrate - postern db migrate */
int admin_db_migrate(struct admin_ctx *ctx, int argc, char **argv)
{
	return db_apply(ctx, argc, argv, "migrate");
}

/* admin_db_status - postern db status */
int admin_db_status(struct admin_ctx *ctx, int argc, char **argv)
{
	struct strbuf why;
	PGconn *conn;
	char *dir;
	int dbv, known, rc;

	(void)argv;
	if (argc != 1)
		return admin_usage(ctx, "db", "status");
	if ((rc = db_connect_and_dir(ctx, &conn, &dir)) != 0)
		return rc;
	strbuf_init(&why, 128);
	if (schema_versions(conn, dir, &dbv, &known, &why) < 0) {
		rc = admin_fail(ADMIN_EX_TEMPFAIL, "%s", strbuf_str(&why));
	} else if (ctx->json) {
		json_t *o = json_pack("{s:i, s:i, s:b}", "version", dbv,
				      "known_version", known, "up_to_date",
				      dbv == known);
		char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

		printf("%s\n", s ? s : "{}");
		free(s);
		json_decref(o);
	} else {
		printf("schema version: %d\n", dbv);
		printf("known version:  %d\n", known);
		if (dbv < known)
			printf("status: %d migration%s pending (run \"postern "
			       "db migrate\")\n",
			       known - dbv, known - dbv == 1 ? "" : "s");
		else if (dbv > known)
			printf("status: the database is newer than this "
			       "program\n");
		else
			printf("status: up to date\n");
	}
	if (rc == 0 && dbv > known)
		rc = ADMIN_EX_CONFIG;
	strbuf_release(&why);
	free(dir);
	PQfinish(conn);
	return rc;
}

/* admin_list_rows - run a list query, with an optional DOMAIN operand
 * (sql_domain takes it as $1; the domain must exist) */
int admin_list_rows(struct admin_ctx *ctx, const char *domain_arg,
		    const char *sql_all, const char *sql_domain)
{
	struct admin_domain_limits lim;
	PGconn *conn = NULL;
	PGresult *res = NULL;
	char *domain = NULL;
	int rc, found;

	if (domain_arg != NULL) {
		domain = xstrdup(domain_arg);
		admin_lowercase(domain);
		if (admin_check_domain(domain) < 0) {
			free(domain);
			return admin_fail(ADMIN_EX_DATAERR,
					  "%s: malformed domain name",
					  domain_arg);
		}
	}
	if ((rc = admin_db_connect(ctx, &conn)) != 0)
		goto out;
	if (domain != NULL) {
		const char *p[1] = {domain};

		found = admin_domain_get(conn, domain, false, &lim, &rc);
		if (found == 0)
			rc = admin_fail(ADMIN_EX_NOUSER, "%s: no such domain",
					domain);
		if (found <= 0)
			goto out;
		res = admin_sql(conn, &rc, domain, sql_domain, 1, p);
	} else {
		res = admin_sql(conn, &rc, "list", sql_all, 0, NULL);
	}
	if (res != NULL) {
		rc = admin_print_rows(ctx, res, false);
		PQclear(res);
	}
out:
	PQfinish(conn);
	free(domain);
	return rc;
}
