/*
 * NAME
 *	lda_quota - Maildir++ quota at delivery time
 * SYNOPSIS
 *	see lda.h
 * DESCRIPTION
 *	maildir_deliver() calls lda_quota_check() once the message is
 *	safely written in tmp/ and before it enters new/, with its exact
 *	size S and the Maildir's root directory, and lda_quota_commit()
 *	after the message is in new/ and new/ is fsynced
 *	(../shared/INTEROP.md section 4, DESIGN.md section 7).
 *
 *	check: the limits come from proxyd (virtual_mailbox_limits, for
 *	the mailbox address that matched); the usage from the Maildir's
 *	maildirsize, which is rebuilt (lib/maildir.c) when it is missing,
 *	broken, too long, stale while over the limit, or when its header
 *	limits differ from the database's (the database is the authority,
 *	like Dovecot's forced rule). Then:
 *
 *	  S larger than the whole byte limit      bounce 5.2.2
 *	  usage + S over a limit (bytes, count)   defer 4.2.2, or bounce
 *	                                          5.2.2 when
 *	                                          quota_exceeded_action =
 *	                                          bounce
 *	  S larger than the domain's total quota  bounce 5.2.2
 *	  domain usage + S over its total quota   defer 4.2.2 (or bounce,
 *	                                          as above)
 *	  a limits lookup failure                 defer 4.3.0
 *
 *	The domain's total and usage come from virtual_domain_limits
 *	(the sum of its mailboxes' quota2 usage); a proxyd.conf without
 *	that table has no domain totals.
 *
 *	A limit of 0 means unlimited; maildirsize is kept all the same,
 *	so Dovecot and `postern quota` see the usage.
 *
 *	An accepted message leaves check holding the shared maildirsize
 *	lock (maildir_quota_lock()), so no recount runs between its link
 *	into new/ and its line in the file.
 *
 *	commit: appends "S 1" to maildirsize (one O_APPEND write), drops
 *	the lock and reports the delivery to proxyd (quota2 mirror). Neither can undo
 *	a delivery that has happened; failures are logged.
 * DIAGNOSTICS
 *	Warnings for a failing maildirsize update or quota2 report.
 * SEE ALSO
 *	lib/maildir.h, lib/lookup_clnt.h, docs/lda.md
 */
#include "sys_defs.h"

#include <errno.h>

#include "log.h"
#include "lookup_clnt.h"
#include "maildir.h"
#include "strbuf.h"

#include "lda.h"

/* lda_quota_prefix - "QID: to=<rcpt>" for log lines (owned) */
static struct strbuf *lda_quota_prefix(const struct lda_quota *lq)
{
	struct strbuf *sb = strbuf_alloc(64);

	if (lq->queue_id != NULL)
		strbuf_printf(sb, "%s: ", lq->queue_id);
	strbuf_cat(sb, "to=<");
	log_escape(sb, lq->recipient, strlen(lq->recipient));
	strbuf_cat(sb, ">");
	return sb;
}

/* lda_quota_limits - the mailbox's limits from proxyd */
static enum deliver_status lda_quota_limits(struct lda_quota *lq,
					    struct lookup_limits *lim,
					    struct maildir_result *res)
{
	struct strbuf *value = strbuf_alloc(64);
	const char *err = "";
	int r;

	memset(lim, 0, sizeof(*lim));
	r = lookup_query(lq->ctx->lookup, LOOKUP_TABLE_LIMITS, lq->user, value,
			 &err);
	if (r == LOOKUP_OK && lookup_parse_limits(value->data, lim) < 0) {
		maildir_result_set(res, DELIVER_DEFER, "4.3.0",
				   "malformed quota limits from proxyd");
		strbuf_free(&value);
		return DELIVER_DEFER;
	}
	strbuf_free(&value);
	if (r == LOOKUP_OK || r == LOOKUP_NOKEY)
		return DELIVER_OK;
	maildir_result_set(res, DELIVER_DEFER, "4.3.0",
			   "quota lookup failed (%s): %s",
			   lookup_status_name(r), err ? err : "");
	return DELIVER_DEFER;
}

/* lda_quota_domain - the domain's total quota and usage from proxyd
 * (a proxyd.conf without virtual_domain_limits: none) */
static enum deliver_status lda_quota_domain(struct lda_quota *lq,
					    struct lookup_domain_limits *dom,
					    struct maildir_result *res)
{
	struct strbuf *value = strbuf_alloc(64);
	const char *err = "", *at = strrchr(lq->user, '@');
	int r = LOOKUP_NOKEY;

	memset(dom, 0, sizeof(*dom));
	if (at != NULL)
		r = lookup_query(lq->ctx->lookup, LOOKUP_TABLE_DOMAIN_LIMITS,
				 at + 1, value, &err);
	if (r == LOOKUP_OK &&
	    lookup_parse_domain_limits(value->data, dom) < 0) {
		maildir_result_set(res, DELIVER_DEFER, "4.3.0",
				   "malformed domain quota from proxyd");
		strbuf_free(&value);
		return DELIVER_DEFER;
	}
	strbuf_free(&value);
	if (r == LOOKUP_OK || r == LOOKUP_NOKEY || r == LOOKUP_DENY)
		return DELIVER_OK;
	maildir_result_set(res, DELIVER_DEFER, "4.3.0",
			   "domain quota lookup failed (%s): %s",
			   lookup_status_name(r), err ? err : "");
	return DELIVER_DEFER;
}

/* lda_quota_full - over quota: defer 4.2.2, or bounce 5.2.2 when
 * quota_exceeded_action = bounce */
static enum deliver_status lda_quota_full(struct lda_quota *lq,
					  struct maildir_result *res,
					  const char *what)
{
	bool bounce =
	    strcmp(lq->ctx->cfg->quota_exceeded_action, "bounce") == 0;

	maildir_result_set(res, bounce ? DELIVER_BOUNCE : DELIVER_DEFER,
			   bounce ? "5.2.2" : "4.2.2", "%s", what);
	return res->status;
}

/* lda_quota_check - may this message of size bytes enter new/? */
enum deliver_status lda_quota_check(void *hook_ctx, int maildir_fd,
				    long long size, struct maildir_result *res)
{
	struct lda_quota *lq = hook_ctx;
	struct lookup_domain_limits dom;
	struct lookup_limits lim;
	struct maildir_quota q;

	if (lda_quota_limits(lq, &lim, res) != DELIVER_OK)
		return DELIVER_DEFER;
	if (maildir_quota_read(maildir_fd, &q) < 0)
		goto fail;
	if (q.need_recalc || q.limit_bytes != lim.quota_bytes ||
	    q.limit_count != lim.quota_messages) {
		if (maildir_quota_recalc(maildir_fd, lim.quota_bytes,
					 lim.quota_messages, &q) < 0)
			goto fail;
	}
	lq->tracked = true;
	if (q.limit_bytes > 0 && size > q.limit_bytes) {
		maildir_result_set(res, DELIVER_BOUNCE, "5.2.2",
				   "message of %lld bytes is larger than the "
				   "mailbox quota of %lld bytes",
				   size, q.limit_bytes);
		return DELIVER_BOUNCE;
	}
	if (maildir_quota_over(&q, size, 1)) {
		struct strbuf *why = strbuf_alloc(128);

		if (q.limit_bytes > 0 && q.bytes > q.limit_bytes - size)
			strbuf_printf(why,
				      "mailbox full: %lld of %lld bytes used, "
				      "message of %lld bytes",
				      q.bytes, q.limit_bytes, size);
		else
			strbuf_printf(why,
				      "mailbox full: %lld of %lld messages",
				      q.count, q.limit_count);
		lda_quota_full(lq, res, why->data);
		strbuf_free(&why);
		return res->status;
	}
	if (lda_quota_domain(lq, &dom, res) != DELIVER_OK)
		return DELIVER_DEFER;
	if (dom.quota_bytes > 0 && size > dom.quota_bytes) {
		maildir_result_set(res, DELIVER_BOUNCE, "5.2.2",
				   "message of %lld bytes is larger than the "
				   "domain's total quota of %lld bytes",
				   size, dom.quota_bytes);
		return DELIVER_BOUNCE;
	}
	if (dom.quota_bytes > 0 && dom.used_bytes > dom.quota_bytes - size) {
		struct strbuf *why = strbuf_alloc(128);

		strbuf_printf(why,
			      "domain quota exceeded: %lld of %lld bytes used, "
			      "message of %lld bytes",
			      dom.used_bytes, dom.quota_bytes, size);
		lda_quota_full(lq, res, why->data);
		strbuf_free(&why);
		return res->status;
	}
	/* Held until commit appended the line (or the Maildir is closed). */
	if (maildir_quota_lock(maildir_fd, false) < 0)
		goto fail;
	return DELIVER_OK;
fail : {
	int err = errno;

	maildir_result_set(res, DELIVER_DEFER, maildir_errno_dsn(err),
			   "cannot read or rebuild %s: %s", MAILDIR_QUOTA_FILE,
			   strerror(err));
	return DELIVER_DEFER;
}
}

/* lda_quota_commit - account for a message now in new/ */
void lda_quota_commit(void *hook_ctx, int maildir_fd,
		      const struct maildir_result *res)
{
	struct lda_quota *lq = hook_ctx;
	struct strbuf *prefix;
	const char *err = "";
	int r;

	if (lq->tracked && maildir_quota_append(maildir_fd, res->size, 1) < 0) {
		prefix = lda_quota_prefix(lq);
		log_warn("%s: append to %s: %m", prefix->data,
			 MAILDIR_QUOTA_FILE);
		strbuf_free(&prefix);
	}
	maildir_quota_unlock(maildir_fd);
	r = lookup_quota_update(lq->ctx->lookup, lq->user, res->size, 1, &err);
	if (r != LOOKUP_OK) {
		prefix = lda_quota_prefix(lq);
		log_warn("%s: quota usage report to proxyd failed (%s): %s",
			 prefix->data, lookup_status_name(r), err ? err : "");
		strbuf_free(&prefix);
	}
}
