/*
 * NAME
 *	admin_domain - postern domain add | del | list | show
 * SYNOPSIS
 *	postern domain add DOMAIN [--description TEXT] [--max-mailboxes N]
 *		[--max-aliases N] [--quota SIZE] [--mailbox-quota SIZE]
 *		[--max-mailbox-quota SIZE] [--postmaster ADDR]
 *		[--active yes|no]
 *	postern domain del DOMAIN
 *	postern domain list [--json]
 *	postern domain show DOMAIN [--json]
 * DESCRIPTION
 *	add creates the domain and, in the same transaction, its
 *	postmaster@DOMAIN alias to --postmaster ADDR (default: the
 *	postmaster_address parameter), so postmaster is always accepted.
 *	Limits: --max-mailboxes and --max-aliases (0 = unlimited; the
 *	postmaster alias is not counted), --quota (the total of the
 *	mailbox quotas), --mailbox-quota (the quota of a new mailbox when
 *	`mailbox add` gives none), --max-mailbox-quota (the cap per
 *	mailbox). Sizes take K, M, G (binary); 0 means unlimited.
 *
 *	del removes the domain with its mailboxes, aliases and alias
 *	domains (database rows only: Maildirs stay on disk for the
 *	operator to archive or remove).
 * DIAGNOSTICS
 *	Exit 0; 1 no such domain (del, show); 64 usage; 65 malformed
 *	domain, address or size; 73 the domain exists; 75 database
 *	unreachable.
 * SEE ALSO
 *	DESIGN.md section 8, docs/schema.md
 */
#include "sys_defs.h"

#include <getopt.h>

#include "cfg.h"
#include "strbuf.h"
#include "xalloc.h"
#include "admin.h"
#include "admin_db.h"

#define DOMAIN_TIME(col)                       \
	"to_char(" col " AT TIME ZONE 'UTC', " \
	"'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS " col

/* domain_num_opt - a non-negative count option */
static int domain_num_opt(const char *name, const char *text, char *out,
			  size_t size)
{
	long long v;
	const char *err;

	if (cfg_parse_int(text, 0, 2147483647, &v, &err) < 0)
		return admin_fail(ADMIN_EX_DATAERR, "--%s %s: %s", name, text,
				  err);
	snprintf(out, size, "%lld", v);
	return 0;
}

/* domain_size_opt - a size option in bytes */
static int domain_size_opt(const char *name, const char *text, char *out,
			   size_t size)
{
	long long v;

	if (admin_parse_size(text, &v) < 0)
		return admin_fail(ADMIN_EX_DATAERR,
				  "--%s %s: expected a size such as 500M or 2G",
				  name, text);
	snprintf(out, size, "%lld", v);
	return 0;
}

/* admin_domain_add - postern domain add DOMAIN [options] */
int admin_domain_add(struct admin_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"description", required_argument, NULL, 'D'},
	    {"max-mailboxes", required_argument, NULL, 'm'},
	    {"max-aliases", required_argument, NULL, 'a'},
	    {"quota", required_argument, NULL, 'q'},
	    {"mailbox-quota", required_argument, NULL, 'b'},
	    {"max-mailbox-quota", required_argument, NULL, 'x'},
	    {"postmaster", required_argument, NULL, 'p'},
	    {"active", required_argument, NULL, 'A'},
	    {NULL, 0, NULL, 0},
	};
	char mailboxes[24] = "0", aliases[24] = "0", quota[24] = "0";
	char mbquota[24] = "0", maxquota[24] = "0";
	const char *description = "", *postmaster = NULL;
	bool active = true;
	char *domain, *pm_alias = NULL, *pm_target = NULL;
	PGconn *conn = NULL;
	PGresult *res;
	int ch, rc = 0;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'D':
			description = optarg;
			break;
		case 'm':
			rc = domain_num_opt("max-mailboxes", optarg, mailboxes,
					    sizeof(mailboxes));
			break;
		case 'a':
			rc = domain_num_opt("max-aliases", optarg, aliases,
					    sizeof(aliases));
			break;
		case 'q':
			rc = domain_size_opt("quota", optarg, quota,
					     sizeof(quota));
			break;
		case 'b':
			rc = domain_size_opt("mailbox-quota", optarg, mbquota,
					     sizeof(mbquota));
			break;
		case 'x':
			rc = domain_size_opt("max-mailbox-quota", optarg,
					     maxquota, sizeof(maxquota));
			break;
		case 'p':
			postmaster = optarg;
			break;
		case 'A':
			if (admin_parse_yesno(optarg, &active) < 0)
				rc = admin_fail(ADMIN_EX_DATAERR,
						"--active %s: expected yes or "
						"no",
						optarg);
			break;
		default:
			return admin_usage(ctx, "domain", "add");
		}
		if (rc != 0)
			return rc;
	}
	if (optind + 1 != argc)
		return admin_usage(ctx, "domain", "add");
	domain = xstrdup(argv[optind]);
	admin_lowercase(domain);
	if (admin_check_domain(domain) < 0) {
		rc = admin_fail(ADMIN_EX_DATAERR, "%s: malformed domain name",
				argv[optind]);
		goto out;
	}
	if (postmaster == NULL)
		postmaster = ctx->cfg.postmaster_address;
	pm_alias = xasprintf("postmaster@%s", domain);
	pm_target = xstrdup(postmaster ? postmaster : "");
	admin_lowercase(pm_target);
	if (admin_check_address(pm_target, false) < 0) {
		rc = admin_fail(ADMIN_EX_DATAERR,
				"postmaster address \"%s\" is malformed (use "
				"--postmaster ADDR)",
				pm_target);
		goto out;
	}
	if (strcmp(pm_target, pm_alias) == 0) {
		rc = admin_fail(ADMIN_EX_DATAERR,
				"--postmaster must name another address than "
				"%s",
				pm_alias);
		goto out;
	}
	if ((rc = admin_db_connect(ctx, &conn)) != 0 ||
	    admin_begin(conn, &rc) < 0)
		goto out;
	{
		const char *p[8] = {
		    domain, description, mailboxes, aliases,
		    quota,  mbquota,     maxquota,  active ? "t" : "f"};

		res = admin_sql(conn, &rc, domain,
				"INSERT INTO domain (domain, description, "
				"mailboxes, aliases, quota, mailbox_quota, "
				"maxquota, active) VALUES ($1, $2, $3, $4, $5, "
				"$6, $7, $8)",
				8, p);
	}
	if (res == NULL) {
		admin_rollback(conn);
		goto out;
	}
	PQclear(res);
	{
		const char *p[3] = {pm_alias, pm_target, domain};

		res = admin_sql(conn, &rc, pm_alias,
				"INSERT INTO alias (address, goto, domain) "
				"VALUES ($1, $2, $3)",
				3, p);
	}
	if (res == NULL) {
		admin_rollback(conn);
		goto out;
	}
	PQclear(res);
	if (admin_commit(conn, &rc) < 0)
		goto out;
	printf("domain %s added (postmaster@%s -> %s)\n", domain, domain,
	       pm_target);
out:
	PQfinish(conn);
	free(domain);
	free(pm_alias);
	free(pm_target);
	return rc;
}

/* domain_one_arg - the single DOMAIN operand, lowercased and checked */
static int domain_one_arg(struct admin_ctx *ctx, int argc, char **argv,
			  const char *verb, char **domain_r)
{
	if (argc != 2)
		return admin_usage(ctx, "domain", verb);
	*domain_r = xstrdup(argv[1]);
	admin_lowercase(*domain_r);
	if (admin_check_domain(*domain_r) < 0) {
		xfree(domain_r);
		return admin_fail(ADMIN_EX_DATAERR, "%s: malformed domain name",
				  argv[1]);
	}
	return 0;
}

/* admin_domain_del - postern domain del DOMAIN */
int admin_domain_del(struct admin_ctx *ctx, int argc, char **argv)
{
	PGconn *conn = NULL;
	PGresult *res;
	char *domain = NULL;
	int rc;

	if ((rc = domain_one_arg(ctx, argc, argv, "del", &domain)) != 0)
		return rc;
	if ((rc = admin_db_connect(ctx, &conn)) != 0 ||
	    admin_begin(conn, &rc) < 0)
		goto out;
	{
		const char *p[1] = {domain};

		res = admin_sql(conn, &rc, domain,
				"DELETE FROM quota2 WHERE username IN (SELECT "
				"username FROM mailbox WHERE domain = $1)",
				1, p);
		if (res != NULL) {
			PQclear(res);
			res = admin_sql(conn, &rc, domain,
					"DELETE FROM domain WHERE domain = $1",
					1, p);
		}
	}
	if (res == NULL) {
		admin_rollback(conn);
		goto out;
	}
	if (strcmp(PQcmdTuples(res), "0") == 0) {
		PQclear(res);
		admin_rollback(conn);
		rc = admin_fail(POSTERN_EX_NOTFOUND, "%s: no such domain",
				domain);
		goto out;
	}
	PQclear(res);
	if (admin_commit(conn, &rc) == 0)
		printf("domain %s deleted\n", domain);
out:
	PQfinish(conn);
	free(domain);
	return rc;
}

#define DOMAIN_COLUMNS                                                   \
	"d.domain, d.description, "                                      \
	"(SELECT count(*) FROM mailbox m WHERE m.domain = d.domain) AS " \
	"mailboxes, d.mailboxes AS max_mailboxes, "                      \
	"(SELECT count(*) FROM alias a WHERE a.domain = d.domain AND "   \
	"a.address <> 'postmaster@' || d.domain) AS aliases, "           \
	"d.aliases AS max_aliases, d.quota, d.mailbox_quota, "           \
	"d.maxquota AS max_mailbox_quota, "                              \
	"(SELECT ad.target_domain FROM alias_domain ad WHERE "           \
	"ad.alias_domain = d.domain) AS alias_domain_of, d.active"

/* admin_domain_list - postern domain list */
int admin_domain_list(struct admin_ctx *ctx, int argc, char **argv)
{
	PGconn *conn = NULL;
	PGresult *res;
	int rc;

	(void)argv;
	if (argc != 1)
		return admin_usage(ctx, "domain", "list");
	if ((rc = admin_db_connect(ctx, &conn)) != 0)
		return rc;
	res = admin_sql(conn, &rc, "domain list",
			"SELECT " DOMAIN_COLUMNS
			" FROM domain d ORDER BY d.domain",
			0, NULL);
	if (res != NULL) {
		rc = admin_print_rows(ctx, res, false);
		PQclear(res);
	}
	PQfinish(conn);
	return rc;
}

/* admin_domain_show - postern domain show DOMAIN */
int admin_domain_show(struct admin_ctx *ctx, int argc, char **argv)
{
	PGconn *conn = NULL;
	PGresult *res;
	char *domain = NULL;
	int rc;

	if ((rc = domain_one_arg(ctx, argc, argv, "show", &domain)) != 0)
		return rc;
	if ((rc = admin_db_connect(ctx, &conn)) != 0)
		goto out;
	{
		const char *p[1] = {domain};

		res = admin_sql(
		    conn, &rc, domain,
		    "SELECT " DOMAIN_COLUMNS
		    ", (SELECT coalesce(sum(m.quota), 0) FROM "
		    "mailbox m WHERE m.domain = d.domain) AS "
		    "quota_allocated, "
		    "(SELECT goto FROM alias a WHERE a.address = "
		    "'postmaster@' || d.domain) AS postmaster, "
		    "d.backupmx, d.transport, " DOMAIN_TIME(
			"created") ", " DOMAIN_TIME("modified") " FROM domain "
								"d WHERE "
								"d.domain = $1",
		    1, p);
	}
	if (res == NULL)
		goto out;
	if (PQntuples(res) == 0)
		rc = admin_fail(POSTERN_EX_NOTFOUND, "%s: no such domain",
				domain);
	else
		rc = admin_print_rows(ctx, res, true);
	PQclear(res);
out:
	PQfinish(conn);
	free(domain);
	return rc;
}
