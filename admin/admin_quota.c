/*
 * NAME
 *	admin_quota - postern quota show | recalc
 * SYNOPSIS
 *	postern [-c DIR] quota show ADDRESS|DOMAIN [--json]
 *	postern [-c DIR] quota recalc ADDRESS [--json]
 * DESCRIPTION
 *	show ADDRESS prints the mailbox's limits and its usage from the
 *	quota2 mirror (what smtpd checks at RCPT), then what the Maildir's
 *	maildirsize says (what the delivery agent and Dovecot check), when
 *	the file can be read: username, quota_bytes, quota_messages,
 *	used_bytes, used_messages, maildirsize_bytes,
 *	maildirsize_messages, maildirsize_stale (null when there is no
 *	readable file; stale means the next delivery recounts it). show
 *	DOMAIN prints the domain's total quota and the usage of all its
 *	mailboxes together: domain, quota_bytes, used_bytes,
 *	used_messages, mailboxes. Sizes in bytes, 0 = unlimited.
 *
 *	recalc ADDRESS recounts the Maildir the way Dovecot does (new/ and
 *	cur/ of the Maildir and its .Folders; lib/maildir.c), replaces
 *	maildirsize durably with the database's limits in its header, and
 *	sets quota2 to the result; it prints username, used_bytes and
 *	used_messages. It runs as root or as the virtual_uid account (or
 *	the owner of virtual_mailbox_base, in a developer instance): root
 *	connects to the database first and then drops to virtual_uid and
 *	virtual_gid for good, so every file it writes belongs to the
 *	delivery agent. The Maildir is opened beneath virtual_mailbox_base
 *	with open_beneath(): no symbolic link, no "..". A Maildir that does
 *	not exist yet counts as empty. A recount that keeps being disturbed
 *	(a directory changing during the scan, e.g. Dovecot moving mail)
 *	is tried a few times, then given up (75).
 * DIAGNOSTICS
 *	Exit 0; 1 no such mailbox or domain; 64 usage; 65 malformed
 *	address or domain, or an unsafe maildir path in the database; 71
 *	a file system error; 75 database unreachable or a recount that
 *	did not settle; 77 not root or virtual_uid, or a symbolic link in
 *	the Maildir's path.
 * SEE ALSO
 *	docs/quota.md, docs/admin.md, lib/maildir.h
 */
#include "sys_defs.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileops.h"
#include "maildir.h"
#include "priv.h"
#include "strbuf.h"
#include "xalloc.h"
#include "admin.h"
#include "admin_db.h"

#define QUOTA_RECALC_TRIES 5

/* quota_mailbox_row - maildir, quota, quota_messages of a mailbox */
static PGresult *quota_mailbox_row(PGconn *conn, const char *addr, int *rc)
{
	const char *p[1] = {addr};
	PGresult *res;

	res = admin_sql(conn, rc, addr,
			"SELECT maildir, quota, quota_messages FROM mailbox "
			"WHERE username = $1",
			1, p);
	if (res != NULL && PQntuples(res) == 0) {
		*rc = admin_fail(POSTERN_EX_NOTFOUND, "%s: no such mailbox",
				 addr);
		PQclear(res);
		return NULL;
	}
	return res;
}

/* quota_open_maildir - the Maildir of a mailbox: descriptor, or -1 and
 * *rc set (0 with errno ENOENT: it does not exist yet) */
static int quota_open_maildir(const struct admin_ctx *ctx, const char *addr,
			      const char *maildir, bool quiet, int *rc)
{
	const char *base = ctx->cfg.virtual_mailbox_base, *err = "";
	struct strbuf clean;
	int base_fd, fd = -1, saved;

	*rc = 0;
	strbuf_init(&clean, 64);
	if (maildir_path_check(maildir, &clean, &err) < 0) {
		*rc = admin_fail(ADMIN_EX_DATAERR,
				 "%s: unsafe maildir path \"%s\" in the "
				 "database: %s",
				 addr, maildir, err);
		strbuf_release(&clean);
		errno = EINVAL;
		return -1;
	}
	base_fd = base != NULL && *base == '/'
		      ? open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
		      : -1;
	if (base_fd >= 0) {
		fd = open_beneath(base_fd, strbuf_str(&clean),
				  O_RDONLY | O_DIRECTORY, 0);
		saved = errno;
		(void)close(base_fd);
		errno = saved;
	}
	saved = errno;
	if (fd < 0 && saved != ENOENT && !quiet)
		*rc = admin_fail(
		    saved == ELOOP    ? ADMIN_EX_NOPERM
		    : saved == EACCES ? ADMIN_EX_NOPERM
				      : ADMIN_EX_OSERR,
		    "%s: cannot open the Maildir %s/%s: %s%s", addr,
		    base ? base : "(no virtual_mailbox_base)",
		    strbuf_str(&clean), strerror(saved),
		    saved == ELOOP ? " (a symbolic link: refused)" : "");
	strbuf_release(&clean);
	errno = saved;
	return fd;
}

/* quota_show_mailbox - limits, quota2 and maildirsize of one mailbox */
static int quota_show_mailbox(struct admin_ctx *ctx, PGconn *conn,
			      const char *addr)
{
	char bytes[24], count[24];
	const char *p[4] = {addr, NULL, NULL, NULL};
	struct maildir_quota q;
	struct stat sb;
	PGresult *row, *res;
	int fd, rc = 0;

	if ((row = quota_mailbox_row(conn, addr, &rc)) == NULL)
		return rc;
	/* What maildirsize says, when it exists and can be read. */
	fd = quota_open_maildir(ctx, addr, PQgetvalue(row, 0, 0), true, &rc);
	PQclear(row);
	if (rc != 0)
		return rc;
	if (fd < 0 && errno != ENOENT)
		admin_warn("%s: cannot open the Maildir: %s", addr,
			   strerror(errno));
	if (fd >= 0 &&
	    fstatat(fd, MAILDIR_QUOTA_FILE, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(sb.st_mode) && maildir_quota_read(fd, &q) == 0) {
		snprintf(bytes, sizeof(bytes), "%lld", q.bytes);
		snprintf(count, sizeof(count), "%lld", q.count);
		p[1] = bytes;
		p[2] = count;
		p[3] = q.need_recalc ? "true" : "false";
	} else if (fd >= 0 && errno != ENOENT) {
		admin_warn("%s: cannot read %s: %s", addr, MAILDIR_QUOTA_FILE,
			   strerror(errno));
	}
	if (fd >= 0)
		(void)close(fd);
	res = admin_sql(conn, &rc, addr,
			"SELECT m.username, m.quota AS quota_bytes, "
			"m.quota_messages, coalesce(q.bytes, 0) AS used_bytes, "
			"coalesce(q.messages, 0) AS used_messages, "
			"$2::bigint AS maildirsize_bytes, "
			"$3::bigint AS maildirsize_messages, "
			"$4::boolean AS maildirsize_stale FROM mailbox m "
			"LEFT JOIN quota2 q ON q.username = m.username "
			"WHERE m.username = $1",
			4, p);
	if (res == NULL)
		return rc;
	if (PQntuples(res) == 0)
		rc = admin_fail(POSTERN_EX_NOTFOUND, "%s: no such mailbox",
				addr);
	else
		rc = admin_print_rows(ctx, res, true);
	PQclear(res);
	return rc;
}

/* quota_show_domain - a domain's total quota and its mailboxes' usage */
static int quota_show_domain(struct admin_ctx *ctx, PGconn *conn,
			     const char *domain)
{
	const char *p[1] = {domain};
	PGresult *res;
	int rc = 0;

	res =
	    admin_sql(conn, &rc, domain,
		      "SELECT d.domain, d.quota AS quota_bytes, "
		      "coalesce(sum(q.bytes), 0)::bigint AS used_bytes, "
		      "coalesce(sum(q.messages), 0)::bigint AS used_messages, "
		      "count(m.username) AS mailboxes FROM domain d "
		      "LEFT JOIN mailbox m ON m.domain = d.domain "
		      "LEFT JOIN quota2 q ON q.username = m.username "
		      "WHERE d.domain = $1 GROUP BY d.domain, d.quota",
		      1, p);
	if (res == NULL)
		return rc;
	if (PQntuples(res) == 0)
		rc = admin_fail(POSTERN_EX_NOTFOUND, "%s: no such domain",
				domain);
	else
		rc = admin_print_rows(ctx, res, true);
	PQclear(res);
	return rc;
}

/* admin_quota_show - postern quota show ADDRESS|DOMAIN */
int admin_quota_show(struct admin_ctx *ctx, int argc, char **argv)
{
	PGconn *conn = NULL;
	char *name = NULL;
	int rc;

	if (argc != 2)
		return admin_usage(ctx, "quota", "show");
	if (strchr(argv[1], '@') != NULL) {
		if ((name = admin_mailbox_address(argv[1])) == NULL)
			return ADMIN_EX_DATAERR;
	} else {
		name = xstrdup(argv[1]);
		admin_lowercase(name);
		if (admin_check_domain(name) < 0) {
			free(name);
			return admin_fail(ADMIN_EX_DATAERR,
					  "%s: malformed domain name", argv[1]);
		}
	}
	if ((rc = admin_db_connect(ctx, &conn)) == 0)
		rc = strchr(name, '@') != NULL
			 ? quota_show_mailbox(ctx, conn, name)
			 : quota_show_domain(ctx, conn, name);
	PQfinish(conn);
	free(name);
	return rc;
}

/* quota_become_vmail - root: drop to virtual_uid/virtual_gid; else
 * only that account or the owner of the mail base may go on */
static int quota_become_vmail(const struct admin_ctx *ctx)
{
	const char *base = ctx->cfg.virtual_mailbox_base;
	uid_t uid;
	gid_t gid, ugid;
	struct stat sb;

	if (priv_lookup(ctx->cfg.virtual_uid, &uid, &ugid) < 0 ||
	    priv_lookup_group(ctx->cfg.virtual_gid, &gid) < 0)
		return admin_fail(ADMIN_EX_CONFIG,
				  "virtual_uid \"%s\" or virtual_gid \"%s\": "
				  "no such account or group",
				  ctx->cfg.virtual_uid, ctx->cfg.virtual_gid);
	if (geteuid() == 0) {
		priv_drop_ids(uid, gid, NULL);
		return 0;
	}
	if (geteuid() == uid ||
	    (base != NULL && stat(base, &sb) == 0 && sb.st_uid == geteuid()))
		return 0;
	return admin_fail(ADMIN_EX_NOPERM,
			  "quota recalc must run as root or as %s (the "
			  "delivery agent's account)",
			  ctx->cfg.virtual_uid);
}

/* quota_recount - recount the Maildir until a scan is undisturbed */
static int quota_recount(const struct admin_ctx *ctx, const char *addr,
			 PGresult *row, struct maildir_quota *q)
{
	long long limit_bytes = admin_ll(row, 0, 1);
	long long limit_count = admin_ll(row, 0, 2);
	int fd, i, rc;

	memset(q, 0, sizeof(*q));
	fd = quota_open_maildir(ctx, addr, PQgetvalue(row, 0, 0), false, &rc);
	if (fd < 0)
		return rc; /* 0: no Maildir yet, nothing to count */
	for (i = 0; i < QUOTA_RECALC_TRIES; i++) {
		if (maildir_quota_recalc(fd, limit_bytes, limit_count, q) < 0) {
			rc = admin_fail(ADMIN_EX_OSERR,
					"%s: cannot recount the Maildir: %s",
					addr, strerror(errno));
			break;
		}
		if (q->rewritten)
			break;
	}
	if (rc == 0 && !q->rewritten)
		rc = admin_fail(ADMIN_EX_TEMPFAIL,
				"%s: the Maildir kept changing during %d "
				"recounts: try again",
				addr, QUOTA_RECALC_TRIES);
	(void)close(fd);
	return rc;
}

/* admin_quota_recalc - postern quota recalc ADDRESS */
int admin_quota_recalc(struct admin_ctx *ctx, int argc, char **argv)
{
	struct maildir_quota q;
	char bytes[24], count[24];
	PGconn *conn = NULL;
	PGresult *row = NULL, *res;
	char *addr = NULL;
	int rc;

	if (argc != 2)
		return admin_usage(ctx, "quota", "recalc");
	if ((addr = admin_mailbox_address(argv[1])) == NULL)
		return ADMIN_EX_DATAERR;
	if ((rc = admin_db_connect(ctx, &conn)) != 0)
		goto out;
	if ((row = quota_mailbox_row(conn, addr, &rc)) == NULL)
		goto out;
	if ((rc = quota_become_vmail(ctx)) != 0 ||
	    (rc = quota_recount(ctx, addr, row, &q)) != 0)
		goto out;
	snprintf(bytes, sizeof(bytes), "%lld", q.bytes);
	snprintf(count, sizeof(count), "%lld", q.count);
	{
		const char *p[3] = {addr, bytes, count};

		res =
		    admin_sql(conn, &rc, addr,
			      "INSERT INTO quota2 (username, bytes, messages) "
			      "VALUES ($1, $2, $3) ON CONFLICT (username) DO "
			      "UPDATE SET bytes = EXCLUDED.bytes, messages = "
			      "EXCLUDED.messages RETURNING username, bytes AS "
			      "used_bytes, messages AS used_messages",
			      3, p);
	}
	if (res != NULL) {
		rc = admin_print_rows(ctx, res, true);
		PQclear(res);
	}
out:
	PQclear(row);
	PQfinish(conn);
	free(addr);
	return rc;
}
