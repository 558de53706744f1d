/*
 * NAME
 *	admin_initdb - the embedded PostgreSQL cluster of `postern init`
 * SYNOPSIS
 *	int admin_initdb(const struct init_opts *o,
 *			 const struct init_ids *ids, const char **note_r);
 * DESCRIPTION
 *	Makes DIR/pgsql: data/ (0700 postern-db) made by Debian's initdb
 *	running as postern-db (initdb refuses root; a non-root developer
 *	runs it as himself), run/ (0755 postern-db, the unix socket
 *	directory) and log/ (0750 postern-db, postgresql.log).
 *
 *	The cluster listens on no TCP address (listen_addresses = '') and
 *	accepts only peer authentication on its socket, through the
 *	identity map "postern" (pg_ident.conf):
 *
 *	  root          -> postern_admin, postern_dovecot (Dovecot's
 *	                   root auth worker)
 *	  postern-proxy -> postern_proxy
 *	  dovecot       -> postern_dovecot
 *	  postern-db    -> postgres (the bootstrap superuser)
 *
 *	and, in a developer instance made without root, the invoking user
 *	to all four. The bootstrap superuser is "postgres"; postern_admin
 *	(LOGIN CREATEROLE) owns database "postern"; postern_proxy and
 *	postern_dovecot are plain LOGIN roles without passwords, given
 *	their privileges by the schema.
 *
 *	After creating the roles and the database (psql as postern-db),
 *	it connects as the admin role through admin.conf and calls the
 *	schema hook schema_apply() (admin_db.c) with the schema/ directory,
 *	when the hook is linked in. Finally it stops the cluster; master
 *	starts it with the instance.
 * DIAGNOSTICS
 *	75 when initdb, pg_ctl, psql or the schema fail, with their last
 *	lines of output; *note_r says whether the schema was applied.
 * SEE ALSO
 *	lib/pgembed.c, initdb(1), pg_hba.conf, pg_ident.conf.
 */
#include "sys_defs.h"

#include <errno.h>
#include <pwd.h>
#include <unistd.h>

#include "pgembed.h"
#include "strbuf.h"
#include "xalloc.h"
#include "admin.h"
#include "admin_init.h"

/* initdb_user - the account PostgreSQL programs run as (NULL: self) */
static const char *initdb_user(void)
{
	return geteuid() == 0 ? "postern-db" : NULL;
}

/* initdb_fail - report a failed program with its last output lines */
static int initdb_fail(const char *what, int rc, const struct strbuf *out)
{
	const char *text = strbuf_str(out);
	const char *end = text + strlen(text);
	const char *start;
	int lines = 0;

	while (end > text && (end[-1] == '\n' || end[-1] == ' '))
		end--;
	for (start = end; start > text; start--) {
		if (start[-1] == '\n' && ++lines == 2)
			break;
	}
	return admin_fail(ADMIN_EX_TEMPFAIL, "%s failed (exit %d)%s%.*s", what,
			  rc, end > start ? ": " : "", (int)(end - start),
			  start);
}

/* initdb_ident - the pg_ident.conf text */
static void initdb_ident(struct strbuf *text)
{
	strbuf_copy(text, "# pg_ident.conf - written by postern init\n"
			  "# MAPNAME  SYSTEM-USERNAME  PG-USERNAME\n");
	if (geteuid() == 0) {
		strbuf_cat(text, "postern  root           postern_admin\n"
				 "postern  root           postern_dovecot\n"
				 "postern  postern-proxy  postern_proxy\n"
				 "postern  dovecot        postern_dovecot\n"
				 "postern  postern-db     postgres\n");
	} else {
		struct passwd *pw = getpwuid(geteuid());
		const char *me = pw ? pw->pw_name : "nobody";

		strbuf_printf_append(text,
				     "postern  %s  postern_admin\n"
				     "postern  %s  postern_proxy\n"
				     "postern  %s  postern_dovecot\n"
				     "postern  %s  postgres\n"
				     "postern  dovecot  postern_dovecot\n",
				     me, me, me, me);
	}
}

/* initdb_files - pg_hba.conf, pg_ident.conf, postgresql.conf additions */
static int initdb_files(const char *pgdir, const struct init_owner *db)
{
	struct strbuf *text = strbuf_alloc(2048);
	char *conf = xasprintf("%s/data/postgresql.conf", pgdir);
	FILE *fp;
	int rc;

	strbuf_copy(text,
		    "# pg_hba.conf - written by postern init\n"
		    "# Unix socket only, peer authentication through the\n"
		    "# \"postern\" identity map (pg_ident.conf). No TCP.\n"
		    "# TYPE  DATABASE  USER  METHOD\n"
		    "local   all       all   peer map=postern\n");
	if ((rc = init_write(pgdir, "data/pg_hba.conf", text->data, 0600,
			     db)) != 0)
		goto out;
	initdb_ident(text);
	if ((rc = init_write(pgdir, "data/pg_ident.conf", text->data, 0600,
			     db)) != 0)
		goto out;
	if ((fp = fopen(conf, "a")) == NULL) {
		rc = admin_fail(ADMIN_EX_IOERR, "open %s: %s", conf,
				strerror(errno));
		goto out;
	}
	fprintf(fp,
		"\n# Added by postern init: unix socket only.\n"
		"listen_addresses = ''\n"
		"unix_socket_directories = '%s/run'\n"
		"unix_socket_permissions = 0777\n"
		"log_line_prefix = '%%m [%%p] %%q%%u@%%d '\n",
		pgdir);
	if (fclose(fp) != 0)
		rc = admin_fail(ADMIN_EX_IOERR, "write %s: %s", conf,
				strerror(errno));
out:
	free(conf);
	strbuf_free(&text);
	return rc;
}

/* initdb_roles - create the roles and the database, as the superuser */
static int initdb_roles(const char *bindir, const char *pgdir)
{
	struct strbuf *out = strbuf_alloc(1024);
	char *psql = xasprintf("%s/psql", bindir);
	char *host = xasprintf("%s/run", pgdir);
	const char *argv[] = {
	    psql,
	    "-X",
	    "-q",
	    "-v",
	    "ON_ERROR_STOP=1",
	    "-h",
	    host,
	    "-U",
	    "postgres",
	    "-d",
	    "postgres",
	    "-c",
	    "CREATE ROLE postern_admin LOGIN CREATEROLE",
	    "-c",
	    "CREATE ROLE postern_proxy LOGIN",
	    "-c",
	    "CREATE ROLE postern_dovecot LOGIN",
	    "-c",
	    "CREATE DATABASE postern OWNER postern_admin ENCODING 'UTF8' "
	    "TEMPLATE template0",
	    NULL,
	};
	int rc = pgembed_run(initdb_user(), argv, out);

	if (rc != 0)
		rc = initdb_fail("creating the database roles", rc, out);
	free(psql);
	free(host);
	strbuf_free(&out);
	return rc;
}

/* initdb_schema - apply schema/ through the hook, if linked in */
static int initdb_schema(const char *dir, const char **note_r)
{
	struct admin_ctx ctx;
	struct strbuf why;
	PGconn *conn;
	char *schema_dir;
	int rc;

	if (schema_apply == NULL) {
		*note_r = "\n                 (schema not applied: this build "
			  "has no schema hook; run \"postern db init\")";
		return 0;
	}
	memset(&ctx, 0, sizeof(ctx));
	ctx.config_dir = dir;
	if ((rc = admin_db_connect(&ctx, &conn)) != 0)
		return rc;
	schema_dir = admin_share_dir("schema");
	strbuf_init(&why, 128);
	if (schema_apply(conn, schema_dir, &why) < 0)
		rc = admin_fail(ADMIN_EX_TEMPFAIL,
				"applying the schema from "
				"%s: %s",
				schema_dir, strbuf_str(&why));
	else
		*note_r = ", schema applied";
	strbuf_release(&why);
	free(schema_dir);
	PQfinish(conn);
	return rc;
}

/* admin_initdb - make, configure, populate and stop the cluster */
int admin_initdb(const struct init_opts *o, const struct init_ids *ids,
		 const char **note_r)
{
	struct strbuf bindir, out, why;
	char *pgdir = xasprintf("%s/pgsql", o->dir);
	char *initdb = NULL, *data = xasprintf("%s/data", pgdir);
	bool started = false;
	int rc;

	strbuf_init(&bindir, 64);
	strbuf_init(&out, 1024);
	strbuf_init(&why, 256);
	if (pgembed_bindir(&bindir) < 0) {
		rc = admin_fail(ADMIN_EX_UNAVAILABLE,
				"--embedded-db: no PostgreSQL server programs "
				"under /usr/lib/postgresql/*/bin (install "
				"the postgresql package)");
		goto out;
	}
	if ((rc = init_mkdir(o->dir, "pgsql", 0755, &ids->root)) != 0 ||
	    (rc = init_mkdir(pgdir, "data", 0700, &ids->db)) != 0 ||
	    (rc = init_mkdir(pgdir, "run", 0755, &ids->db)) != 0 ||
	    (rc = init_mkdir(pgdir, "log", 0750, &ids->db)) != 0)
		goto out;
	initdb = xasprintf("%s/initdb", strbuf_str(&bindir));
	{
		const char *argv[] = {
		    initdb,
		    "-D",
		    data,
		    "-U",
		    "postgres",
		    "-E",
		    "UTF8",
		    "--locale=C",
		    "--auth-local=peer",
		    "--auth-host=reject",
		    NULL,
		};

		rc = pgembed_run(initdb_user(), argv, &out);
		if (rc != 0) {
			rc = initdb_fail(initdb, rc, &out);
			goto out;
		}
	}
	if ((rc = initdb_files(pgdir, &ids->db)) != 0)
		goto out;
	if (pgembed_ctl(pgdir, initdb_user(), "start", &why) != 0) {
		rc = admin_fail(ADMIN_EX_TEMPFAIL, "%s", strbuf_str(&why));
		goto out;
	}
	started = true;
	if ((rc = initdb_roles(strbuf_str(&bindir), pgdir)) != 0 ||
	    (rc = initdb_schema(o->dir, note_r)) != 0)
		goto out;
out:
	if (started) {
		strbuf_reset(&why);
		if (pgembed_ctl(pgdir, initdb_user(), "stop", &why) != 0 &&
		    rc == 0)
			rc = admin_fail(ADMIN_EX_TEMPFAIL, "%s",
					strbuf_str(&why));
	}
	free(initdb);
	free(data);
	free(pgdir);
	strbuf_release(&bindir);
	strbuf_release(&out);
	strbuf_release(&why);
	return rc;
}
