/*
 * NAME
 *	admin_alias - postern alias add | del | list, postern alias-domain
 *	add | del | list
 * SYNOPSIS
 *	postern alias add ADDRESS TARGET[,TARGET...]
 *	postern alias del ADDRESS
 *	postern alias list [DOMAIN] [--json]
 *	postern alias-domain add ALIAS_DOMAIN TARGET_DOMAIN
 *	postern alias-domain del ALIAS_DOMAIN
 *	postern alias-domain list [--json]
 * DESCRIPTION
 *	An alias maps an address of a local domain to one or more
 *	targets; "@domain" is the domain's catch-all. A target in a local
 *	domain must exist (a mailbox, an alias, or an address of an alias
 *	domain); remote targets are taken as given. An alias may list its
 *	own address to keep a copy in that mailbox. The domain's
 *	--max-aliases counts every alias but postmaster@.
 *
 *	An alias domain sends anything@ALIAS_DOMAIN to
 *	anything@TARGET_DOMAIN. The alias domain gets a row in the domain
 *	table when it has none (so it is accepted as a local domain);
 *	`alias-domain del` removes only the mapping.
 * DIAGNOSTICS
 *	Exit 0; 1 no such alias / alias domain; 64 usage; 65 malformed
 *	address or domain; 67 unknown domain or local target; 73 exists;
 *	75 database unreachable; 78 the domain's alias limit is reached.
 * SEE ALSO
 *	DESIGN.md sections 6 and 8, docs/schema.md
 */
#include "sys_defs.h"

#include "cfg.h"
#include "strbuf.h"
#include "xalloc.h"
#include "admin.h"
#include "admin_db.h"

/* alias_target_known - whether a local target exists: 1 yes, 0 no,
 * 2 not a local domain (taken as given), -1 error */
static int alias_target_known(PGconn *conn, const char *target, int *code_r)
{
	const char *p[2] = {target, strrchr(target, '@') + 1};
	PGresult *res;
	int ret;

	res = admin_sql(conn, code_r, target,
			"SELECT EXISTS (SELECT 1 FROM domain WHERE domain = "
			"$2::text), EXISTS (SELECT 1 FROM mailbox WHERE "
			"username = $1::text) OR EXISTS (SELECT 1 FROM alias "
			"WHERE address = $1::text) OR EXISTS (SELECT 1 FROM "
			"alias_domain WHERE alias_domain = $2::text)",
			2, p);
	if (res == NULL)
		return -1;
	if (PQgetvalue(res, 0, 0)[0] != 't')
		ret = 2;
	else
		ret = PQgetvalue(res, 0, 1)[0] == 't';
	PQclear(res);
	return ret;
}

/* alias_targets - check, lowercase and de-duplicate the target list */
static int alias_targets(const char *address, const char *arg,
			 struct strbuf *out)
{
	char **list;
	size_t n, i, j;
	int rc = 0;

	list = cfg_split_list(arg, &n);
	if (n == 0)
		rc = admin_fail(ADMIN_EX_DATAERR, "%s: no target given",
				address);
	for (i = 0; i < n && rc == 0; i++) {
		admin_lowercase(list[i]);
		if (admin_check_address(list[i], false) < 0) {
			rc =
			    admin_fail(ADMIN_EX_DATAERR,
				       "%s: malformed target address", list[i]);
			break;
		}
		for (j = 0; j < i && strcmp(list[j], list[i]) != 0; j++)
			;
		if (j < i)
			continue;
		if (out->len > 0)
			strbuf_addch(out, ',');
		strbuf_cat(out, list[i]);
	}
	cfg_free_list(&list);
	return rc;
}

/* admin_alias_add - postern alias add ADDRESS TARGET[,TARGET...] */
int admin_alias_add(struct admin_ctx *ctx, int argc, char **argv)
{
	struct admin_domain_limits lim;
	struct strbuf targets;
	PGconn *conn = NULL;
	PGresult *res;
	char *addr, *domain, **list = NULL;
	size_t n = 0, i;
	int rc, found;

	if (argc < 3)
		return admin_usage(ctx, "alias", "add");
	addr = xstrdup(argv[1]);
	admin_lowercase(addr);
	strbuf_init(&targets, 128);
	if (admin_check_address(addr, true) < 0) {
		rc = admin_fail(ADMIN_EX_DATAERR,
				"%s: malformed address (expected local@domain "
				"or @domain)",
				argv[1]);
		free(addr);
		strbuf_release(&targets);
		return rc;
	}
	domain = strrchr(addr, '@') + 1;
	/* Targets may come as one comma list or several operands. */
	for (i = 2; i < (size_t)argc; i++) {
		struct strbuf one;

		strbuf_init(&one, 64);
		rc = alias_targets(addr, argv[i], &one);
		if (rc == 0 && one.len > 0) {
			if (targets.len > 0)
				strbuf_addch(&targets, ',');
			strbuf_catn(&targets, one.data, one.len);
		}
		strbuf_release(&one);
		if (rc != 0)
			goto out;
	}
	if ((rc = admin_db_connect(ctx, &conn)) != 0 ||
	    admin_begin(conn, &rc) < 0)
		goto out;
	if ((found = admin_domain_get(conn, domain, true, &lim, &rc)) <= 0) {
		if (found == 0)
			rc = admin_fail(ADMIN_EX_NOUSER, "%s: no such domain",
					domain);
		goto rollback;
	}
	list = cfg_split_list(strbuf_str(&targets), &n);
	for (i = 0; i < n; i++) {
		int known;

		if (strcmp(list[i], addr) == 0)
			continue; /* keeps a copy in its own mailbox */
		if ((known = alias_target_known(conn, list[i], &rc)) < 0)
			goto rollback;
		if (known == 0) {
			rc = admin_fail(ADMIN_EX_NOUSER,
					"%s: no such local mailbox or alias",
					list[i]);
			goto rollback;
		}
	}
	if (lim.max_aliases > 0 && lim.aliases >= lim.max_aliases &&
	    strncmp(addr, "postmaster@", 11) != 0) {
		rc = admin_fail(POSTERN_EX_LIMIT,
				"%s: alias limit reached "
				"(%lld)",
				domain, lim.max_aliases);
		goto rollback;
	}
	{
		const char *p[3] = {addr, strbuf_str(&targets), domain};

		res = admin_sql(conn, &rc, addr,
				"INSERT INTO alias (address, goto, domain) "
				"VALUES ($1, $2, $3)",
				3, p);
	}
	if (res == NULL)
		goto rollback;
	PQclear(res);
	if (admin_commit(conn, &rc) == 0)
		printf("alias %s -> %s added\n", addr, strbuf_str(&targets));
	goto out;
rollback:
	admin_rollback(conn);
out:
	cfg_free_list(&list);
	PQfinish(conn);
	strbuf_release(&targets);
	free(addr);
	return rc;
}

/* alias_delete - one DELETE by key: 1 when absent */
static int alias_delete(struct admin_ctx *ctx, const char *key, const char *sql,
			const char *what)
{
	PGconn *conn = NULL;
	PGresult *res;
	const char *p[1] = {key};
	int rc;

	if ((rc = admin_db_connect(ctx, &conn)) != 0)
		return rc;
	res = admin_sql(conn, &rc, key, sql, 1, p);
	if (res != NULL) {
		if (strcmp(PQcmdTuples(res), "0") == 0)
			rc = admin_fail(POSTERN_EX_NOTFOUND, "%s: no such %s",
					key, what);
		else
			printf("%s %s deleted\n", what, key);
		PQclear(res);
	}
	PQfinish(conn);
	return rc;
}

/* admin_alias_del - postern alias del ADDRESS */
int admin_alias_del(struct admin_ctx *ctx, int argc, char **argv)
{
	char *addr;
	int rc;

	if (argc != 2)
		return admin_usage(ctx, "alias", "del");
	addr = xstrdup(argv[1]);
	admin_lowercase(addr);
	if (admin_check_address(addr, true) < 0)
		rc = admin_fail(ADMIN_EX_DATAERR, "%s: malformed address",
				argv[1]);
	else
		rc = alias_delete(
		    ctx, addr, "DELETE FROM alias WHERE address = $1", "alias");
	free(addr);
	return rc;
}

/* admin_alias_list - postern alias list [DOMAIN] */
int admin_alias_list(struct admin_ctx *ctx, int argc, char **argv)
{
	if (argc > 2)
		return admin_usage(ctx, "alias", "list");
	return admin_list_rows(
	    ctx, argc == 2 ? argv[1] : NULL,
	    "SELECT address, goto, active FROM alias ORDER BY "
	    "domain, address",
	    "SELECT address, goto, active FROM alias WHERE "
	    "domain = $1 ORDER BY address");
}

/* admin_alias_domain_add - postern alias-domain add ALIAS TARGET */
int admin_alias_domain_add(struct admin_ctx *ctx, int argc, char **argv)
{
	struct admin_domain_limits lim;
	PGconn *conn = NULL;
	PGresult *res;
	char *alias, *target;
	int rc, found;

	if (argc != 3)
		return admin_usage(ctx, "alias-domain", "add");
	alias = xstrdup(argv[1]);
	target = xstrdup(argv[2]);
	admin_lowercase(alias);
	admin_lowercase(target);
	if (admin_check_domain(alias) < 0 || admin_check_domain(target) < 0) {
		rc = admin_fail(ADMIN_EX_DATAERR, "%s: malformed domain name",
				admin_check_domain(alias) < 0 ? argv[1]
							      : argv[2]);
		goto out;
	}
	if (strcmp(alias, target) == 0) {
		rc = admin_fail(ADMIN_EX_DATAERR,
				"%s: a domain cannot be its own alias", alias);
		goto out;
	}
	if ((rc = admin_db_connect(ctx, &conn)) != 0 ||
	    admin_begin(conn, &rc) < 0)
		goto out;
	if ((found = admin_domain_get(conn, target, true, &lim, &rc)) <= 0) {
		if (found == 0)
			rc = admin_fail(ADMIN_EX_NOUSER, "%s: no such domain",
					target);
		admin_rollback(conn);
		goto out;
	}
	{
		const char *p[2] = {alias, target};
		char *desc = xasprintf("alias domain of %s", target);
		const char *pd[2] = {alias, desc};

		res = admin_sql(conn, &rc, alias,
				"INSERT INTO domain (domain, description) "
				"VALUES ($1, $2) ON CONFLICT (domain) DO "
				"NOTHING",
				2, pd);
		free(desc);
		if (res != NULL) {
			PQclear(res);
			res = admin_sql(conn, &rc, alias,
					"INSERT INTO alias_domain "
					"(alias_domain, target_domain) VALUES "
					"($1, $2)",
					2, p);
		}
	}
	if (res == NULL) {
		admin_rollback(conn);
		goto out;
	}
	PQclear(res);
	if (admin_commit(conn, &rc) == 0)
		printf("alias domain %s -> %s added\n", alias, target);
out:
	PQfinish(conn);
	free(alias);
	free(target);
	return rc;
}

/* admin_alias_domain_del - postern alias-domain del ALIAS_DOMAIN */
int admin_alias_domain_del(struct admin_ctx *ctx, int argc, char **argv)
{
	char *alias;
	int rc;

	if (argc != 2)
		return admin_usage(ctx, "alias-domain", "del");
	alias = xstrdup(argv[1]);
	admin_lowercase(alias);
	if (admin_check_domain(alias) < 0)
		rc = admin_fail(ADMIN_EX_DATAERR, "%s: malformed domain name",
				argv[1]);
	else
		rc = alias_delete(ctx, alias,
				  "DELETE FROM alias_domain WHERE alias_domain "
				  "= $1",
				  "alias domain");
	free(alias);
	return rc;
}

/* admin_alias_domain_list - postern alias-domain list */
int admin_alias_domain_list(struct admin_ctx *ctx, int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		return admin_usage(ctx, "alias-domain", "list");
	return admin_list_rows(
	    ctx, NULL,
	    "SELECT alias_domain, target_domain, active FROM "
	    "alias_domain ORDER BY alias_domain",
	    NULL);
}
