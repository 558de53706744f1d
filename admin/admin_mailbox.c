/*
 * NAME
 *	admin_mailbox - postern mailbox add | del | list | show | passwd |
 *	enable | disable
 * SYNOPSIS
 *	postern mailbox add ADDRESS [--password-stdin] [--quota SIZE]
 *		[--quota-messages N] [--name NAME]
 *	postern mailbox del ADDRESS
 *	postern mailbox list [DOMAIN] [--json]
 *	postern mailbox show ADDRESS [--json]
 *	postern mailbox passwd ADDRESS [--password-stdin]
 *	postern mailbox enable ADDRESS
 *	postern mailbox disable ADDRESS
 * DESCRIPTION
 *	The password comes from standard input (--password-stdin, one
 *	line) or a no-echo prompt, never from the command line, and is
 *	stored as {ARGON2ID} + libsodium's crypto_pwhash_str() output,
 *	which Dovecot verifies natively.
 *
 *	add checks the domain's limits inside the transaction that
 *	inserts (the domain row is locked, so two concurrent adds cannot
 *	both take the last place): the number of mailboxes, the cap per
 *	mailbox, and the domain's total quota. Without --quota a mailbox
 *	gets the domain's default (--mailbox-quota of `domain add`). Its
 *	Maildir is DOMAIN/LOCALPART/ under virtual_mailbox_base, made by
 *	the delivery agent at the first delivery.
 *
 *	del removes the rows (mailbox and usage), not the Maildir.
 * DIAGNOSTICS
 *	Exit 0; 1 no such mailbox; 64 usage; 65 malformed address, size or
 *	password; 67 unknown domain; 73 the mailbox exists; 75 database
 *	unreachable; 78 a domain limit would be exceeded.
 * SEE ALSO
 *	DESIGN.md sections 6 and 8, docs/schema.md
 */
#include "sys_defs.h"

#include <getopt.h>

#include "cfg.h"
#include "passwd.h"
#include "strbuf.h"
#include "xalloc.h"
#include "admin.h"
#include "admin_db.h"

#define MAILBOX_TIME(col)                        \
	"to_char(m." col " AT TIME ZONE 'UTC', " \
	"'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS " col

/* mailbox_hash - read a password and hash it */
static int mailbox_hash(bool from_stdin, struct strbuf *hash)
{
	struct strbuf pw;
	int rc;

	strbuf_init(&pw, 64);
	rc = admin_read_password(from_stdin, true, &pw);
	if (rc == 0 && passwd_hash(strbuf_str(&pw), hash) < 0)
		rc = admin_fail(ADMIN_EX_OSERR, "cannot hash the password: out "
						"of memory");
	explicit_bzero(pw.data, pw.cap);
	strbuf_release(&pw);
	return rc;
}

/* mailbox_check_limits - the domain's limits against a new mailbox */
static int mailbox_check_limits(const char *domain,
				const struct admin_domain_limits *lim,
				long long quota)
{
	if (lim->max_mailboxes > 0 && lim->mailboxes >= lim->max_mailboxes)
		return admin_fail(POSTERN_EX_LIMIT,
				  "%s: mailbox limit reached (%lld)", domain,
				  lim->max_mailboxes);
	if (lim->max_mailbox_quota > 0 &&
	    (quota == 0 || quota > lim->max_mailbox_quota))
		return admin_fail(POSTERN_EX_LIMIT,
				  "%s: quota %lld exceeds the domain's cap per "
				  "mailbox (%lld bytes)",
				  domain, quota, lim->max_mailbox_quota);
	if (lim->quota > 0 &&
	    (quota == 0 || lim->quota_used + quota > lim->quota))
		return admin_fail(POSTERN_EX_LIMIT,
				  "%s: quota %lld would exceed the domain's "
				  "total quota (%lld of %lld bytes allocated)",
				  domain, quota, lim->quota_used, lim->quota);
	return 0;
}

/* admin_mailbox_add - postern mailbox add ADDRESS [options] */
int admin_mailbox_add(struct admin_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"password-stdin", no_argument, NULL, 's'},
	    {"quota", required_argument, NULL, 'q'},
	    {"quota-messages", required_argument, NULL, 'M'},
	    {"name", required_argument, NULL, 'n'},
	    {NULL, 0, NULL, 0},
	};
	struct admin_domain_limits lim;
	struct strbuf hash;
	bool from_stdin = false;
	long long quota = -1, qmsgs = 0;
	const char *name = "", *err, *at;
	char *addr = NULL, *domain = NULL, *maildir = NULL;
	char qbuf[24], mbuf[24];
	PGconn *conn = NULL;
	PGresult *res;
	int ch, rc, found;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			from_stdin = true;
			break;
		case 'q':
			if (admin_parse_size(optarg, &quota) < 0)
				return admin_fail(ADMIN_EX_DATAERR,
						  "--quota %s: expected a size "
						  "such as 500M or 2G",
						  optarg);
			break;
		case 'M':
			if (cfg_parse_int(optarg, 0, (long long)1 << 40, &qmsgs,
					  &err) < 0)
				return admin_fail(ADMIN_EX_DATAERR,
						  "--quota-messages %s: %s",
						  optarg, err);
			break;
		case 'n':
			name = optarg;
			break;
		default:
			return admin_usage(ctx, "mailbox", "add");
		}
	}
	if (optind + 1 != argc)
		return admin_usage(ctx, "mailbox", "add");
	if ((addr = admin_mailbox_address(argv[optind])) == NULL)
		return ADMIN_EX_DATAERR;
	at = strrchr(addr, '@');
	domain = xstrdup(at + 1);
	maildir = xasprintf("%s/%.*s/", domain, (int)(at - addr), addr);
	strbuf_init(&hash, 128);
	if ((rc = admin_db_connect(ctx, &conn)) != 0)
		goto out;
	/* Look before asking for a password: fail early and clearly. */
	if ((found = admin_domain_get(conn, domain, false, &lim, &rc)) <= 0) {
		if (found == 0)
			rc = admin_fail(ADMIN_EX_NOUSER, "%s: no such domain",
					domain);
		goto out;
	}
	if ((rc = mailbox_hash(from_stdin, &hash)) != 0)
		goto out;
	if (admin_begin(conn, &rc) < 0)
		goto out;
	if ((found = admin_domain_get(conn, domain, true, &lim, &rc)) <= 0) {
		if (found == 0)
			rc = admin_fail(ADMIN_EX_NOUSER, "%s: no such domain",
					domain);
		admin_rollback(conn);
		goto out;
	}
	{
		const char *p[1] = {addr};

		res = admin_sql(conn, &rc, addr,
				"SELECT 1 FROM mailbox WHERE username = $1", 1,
				p);
		if (res == NULL || PQntuples(res) > 0) {
			if (res != NULL)
				rc = admin_fail(ADMIN_EX_CANTCREAT,
						"mailbox %s already exists",
						addr);
			PQclear(res);
			admin_rollback(conn);
			goto out;
		}
		PQclear(res);
	}
	if (quota < 0)
		quota = lim.mailbox_quota;
	if ((rc = mailbox_check_limits(domain, &lim, quota)) != 0) {
		admin_rollback(conn);
		goto out;
	}
	snprintf(qbuf, sizeof(qbuf), "%lld", quota);
	snprintf(mbuf, sizeof(mbuf), "%lld", qmsgs);
	{
		const char *p[8] = {
		    addr, strbuf_str(&hash), name, maildir, qbuf, mbuf, domain,
		    NULL};
		char *local = xstrndup(addr, (size_t)(at - addr));

		p[7] = local;
		res = admin_sql(conn, &rc, addr,
				"INSERT INTO mailbox (username, password, "
				"name, maildir, quota, quota_messages, domain, "
				"local_part) VALUES ($1, $2, $3, $4, $5, $6, "
				"$7, $8)",
				8, p);
		free(local);
	}
	if (res == NULL) {
		admin_rollback(conn);
		goto out;
	}
	PQclear(res);
	if (admin_commit(conn, &rc) == 0)
		printf("mailbox %s added (maildir %s, quota %lld bytes)\n",
		       addr, maildir, quota);
out:
	explicit_bzero(hash.data, hash.cap);
	strbuf_release(&hash);
	PQfinish(conn);
	free(addr);
	free(domain);
	free(maildir);
	return rc;
}

/* mailbox_update - one UPDATE/DELETE by address: 1 when absent */
static int mailbox_update(struct admin_ctx *ctx, const char *addr,
			  const char *sql, const char *value, const char *done)
{
	PGconn *conn = NULL;
	PGresult *res;
	const char *p[2] = {addr, value};
	int rc;

	if ((rc = admin_db_connect(ctx, &conn)) != 0)
		return rc;
	res = admin_sql(conn, &rc, addr, sql, value ? 2 : 1, p);
	if (res != NULL) {
		if (strcmp(PQcmdTuples(res), "0") == 0)
			rc = admin_fail(POSTERN_EX_NOTFOUND,
					"%s: no such mailbox", addr);
		else
			printf("mailbox %s %s\n", addr, done);
		PQclear(res);
	}
	PQfinish(conn);
	return rc;
}

/* mailbox_simple - a verb with just ADDRESS */
static int mailbox_simple(struct admin_ctx *ctx, int argc, char **argv,
			  const char *verb, const char *sql, const char *value,
			  const char *done)
{
	char *addr;
	int rc;

	if (argc != 2)
		return admin_usage(ctx, "mailbox", verb);
	if ((addr = admin_mailbox_address(argv[1])) == NULL)
		return ADMIN_EX_DATAERR;
	rc = mailbox_update(ctx, addr, sql, value, done);
	free(addr);
	return rc;
}

/* admin_mailbox_del - postern mailbox del ADDRESS */
int admin_mailbox_del(struct admin_ctx *ctx, int argc, char **argv)
{
	return mailbox_simple(ctx, argc, argv, "del",
			      "WITH q AS (DELETE FROM quota2 WHERE username = "
			      "$1) DELETE FROM mailbox WHERE username = $1",
			      NULL, "deleted (its Maildir is kept)");
}

/* admin_mailbox_enable - postern mailbox enable ADDRESS */
int admin_mailbox_enable(struct admin_ctx *ctx, int argc, char **argv)
{
	return mailbox_simple(ctx, argc, argv, "enable",
			      "UPDATE mailbox SET active = true WHERE "
			      "username = $1",
			      NULL, "enabled");
}

/* admin_mailbox_disable - postern mailbox disable ADDRESS */
int admin_mailbox_disable(struct admin_ctx *ctx, int argc, char **argv)
{
	return mailbox_simple(ctx, argc, argv, "disable",
			      "UPDATE mailbox SET active = false WHERE "
			      "username = $1",
			      NULL, "disabled");
}

/* admin_mailbox_passwd - postern mailbox passwd ADDRESS */
int admin_mailbox_passwd(struct admin_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"password-stdin", no_argument, NULL, 's'},
	    {NULL, 0, NULL, 0},
	};
	struct strbuf hash;
	bool from_stdin = false;
	char *addr = NULL;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch != 's')
			return admin_usage(ctx, "mailbox", "passwd");
		from_stdin = true;
	}
	if (optind + 1 != argc)
		return admin_usage(ctx, "mailbox", "passwd");
	if ((addr = admin_mailbox_address(argv[optind])) == NULL)
		return ADMIN_EX_DATAERR;
	strbuf_init(&hash, 128);
	if ((rc = mailbox_hash(from_stdin, &hash)) == 0)
		rc = mailbox_update(ctx, addr,
				    "UPDATE mailbox SET password = $2 WHERE "
				    "username = $1",
				    strbuf_str(&hash), "password changed");
	explicit_bzero(hash.data, hash.cap);
	strbuf_release(&hash);
	free(addr);
	return rc;
}

#define MAILBOX_COLUMNS                                   \
	"m.username, m.name, m.quota, m.quota_messages, " \
	"coalesce(q.bytes, 0) AS used_bytes, "            \
	"coalesce(q.messages, 0) AS used_messages, m.active"

/* admin_mailbox_list - postern mailbox list [DOMAIN] */
int admin_mailbox_list(struct admin_ctx *ctx, int argc, char **argv)
{
	if (argc > 2)
		return admin_usage(ctx, "mailbox", "list");
	return admin_list_rows(
	    ctx, argc == 2 ? argv[1] : NULL,
	    "SELECT " MAILBOX_COLUMNS " FROM mailbox m LEFT JOIN quota2 q ON "
	    "q.username = m.username ORDER BY m.domain, m.username",
	    "SELECT " MAILBOX_COLUMNS " FROM mailbox m LEFT JOIN quota2 q ON "
	    "q.username = m.username WHERE m.domain = $1 ORDER BY m.username");
}

/* admin_mailbox_show - postern mailbox show ADDRESS */
int admin_mailbox_show(struct admin_ctx *ctx, int argc, char **argv)
{
	PGconn *conn = NULL;
	PGresult *res;
	char *addr = NULL;
	int rc;

	if (argc != 2)
		return admin_usage(ctx, "mailbox", "show");
	if ((addr = admin_mailbox_address(argv[1])) == NULL)
		return ADMIN_EX_DATAERR;
	if ((rc = admin_db_connect(ctx, &conn)) != 0)
		goto out;
	{
		const char *p[1] = {addr};

		res = admin_sql(
		    conn, &rc, addr,
		    "SELECT m.username, m.name, m.domain, m.local_part, "
		    "m.maildir, m.quota, m.quota_messages, coalesce(q.bytes, "
		    "0) AS used_bytes, coalesce(q.messages, 0) AS "
		    "used_messages, m.active, m.smtp_active, "
		    "CASE WHEN left(m.password, 1) = '{' THEN "
		    "split_part(substr(m.password, 2), '}', 1) ELSE '' END "
		    "AS password_scheme, "
		    "" MAILBOX_TIME("created") ", " MAILBOX_TIME(
			"modified") " FROM mailbox m LEFT JOIN quota2 q ON "
				    "q.username = m.username WHERE m.username "
				    "= $1",
		    1, p);
	}
	if (res == NULL)
		goto out;
	if (PQntuples(res) == 0)
		rc = admin_fail(POSTERN_EX_NOTFOUND, "%s: no such mailbox",
				addr);
	else
		rc = admin_print_rows(ctx, res, true);
	PQclear(res);
out:
	PQfinish(conn);
	free(addr);
	return rc;
}
