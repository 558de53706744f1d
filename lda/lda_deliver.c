/*
 * NAME
 *	lda_deliver - resolve one recipient's mailbox and deliver to it
 * SYNOPSIS
 *	see lda.h
 * DESCRIPTION
 *	lda_deliver_rcpt() asks proxyd for the recipient's Maildir
 *	(table virtual_mailbox_maps: address -> path relative to
 *	virtual_mailbox_base, e.g. "example.com/user/"). When the full
 *	address is unknown and its local part holds the
 *	recipient_delimiter, the address without the extension is tried
 *	too (user+ext@example.com -> user@example.com). Then it calls
 *	maildir_deliver() with the quota hooks of lda_quota.c (Maildir++
 *	quota for the address that was found) and records
 *	the outcome in the recipient. The lookups of a plain address (its
 *	Maildir, its limits and its domain's) go to proxyd together, in
 *	one round trip (lookup_prefetch()):
 *
 *	  found, delivered             ok      2.0.0
 *	  not found (NOKEY)            bounce  5.1.1 unknown user
 *	  lookup RETRY, DENY or BAD    defer   4.3.0
 *	  Maildir failure              defer   as lib/maildir says
 *
 *	lda_open_base() opens virtual_mailbox_base as a directory.
 *	lda_running_as_root() is true when any of the real, effective or
 *	saved user ids is 0.
 * DIAGNOSTICS
 *	Deferrals are logged as warnings ("QID: to=<rcpt>: reason"; no
 *	queue id in standalone mode). Successes and bounces are not
 *	logged here: qmgr writes the one status line per recipient.
 * SEE ALSO
 *	lib/maildir.h, lib/lookup_clnt.h, docs/lda.md
 */
#include "sys_defs.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "log.h"
#include "lookup_clnt.h"
#include "maildir.h"
#include "strbuf.h"
#include "xalloc.h"

#include "lda.h"

/* lda_running_as_root - whether any user id of the process is root */
bool lda_running_as_root(void)
{
	uid_t r, e, s;

	if (getresuid(&r, &e, &s) < 0)
		return true;
	return r == 0 || e == 0 || s == 0;
}

/* lda_open_base - open virtual_mailbox_base: descriptor, or -1 */
int lda_open_base(const struct config *cfg, struct strbuf *why)
{
	int fd;

	if (cfg->virtual_mailbox_base == NULL ||
	    *cfg->virtual_mailbox_base != '/') {
		strbuf_printf(why, "virtual_mailbox_base must be an absolute "
				   "path");
		return -1;
	}
	fd =
	    open(cfg->virtual_mailbox_base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		strbuf_printf(why, "open virtual_mailbox_base %s: %m",
			      cfg->virtual_mailbox_base);
	return fd;
}

/* lda_strip_extension - user+ext@dom -> user@dom (owned), or NULL */
static char *lda_strip_extension(const char *addr, const char *delims)
{
	const char *at = strrchr(addr, '@');
	size_t local_len = at ? (size_t)(at - addr) : strlen(addr);
	size_t cut;

	if (delims == NULL || *delims == '\0')
		return NULL;
	cut = strcspn(addr, delims);
	if (cut == 0 || cut >= local_len)
		return NULL;
	return xasprintf("%.*s%s", (int)cut, addr, at ? at : "");
}

/* lda_lookup_mailbox - the Maildir path into value; *user_r: the key */
static int lda_lookup_mailbox(struct lda_ctx *ctx, const char *rcpt,
			      struct strbuf *value, char **user_r,
			      const char **error_r)
{
	char *base;
	int r;

	r = lookup_query(ctx->lookup, LOOKUP_TABLE_MAILBOXES, rcpt, value,
			 error_r);
	if (r != LOOKUP_NOKEY) {
		*user_r = xstrdup(rcpt);
		return r;
	}
	base = lda_strip_extension(rcpt, ctx->recipient_delim);
	if (base != NULL) {
		r = lookup_query(ctx->lookup, LOOKUP_TABLE_MAILBOXES, base,
				 value, error_r);
		*user_r = base;
	}
	return r;
}

/* lda_warn - log a deferral with the queue id when there is one */
static void lda_warn(const char *queue_id, const char *rcpt, const char *reason)
{
	struct strbuf *esc = strbuf_alloc(64);

	log_escape(esc, rcpt, strlen(rcpt));
	if (queue_id != NULL)
		log_warn("%s: to=<%s>: %s", queue_id, esc->data, reason);
	else
		log_warn("to=<%s>: %s", esc->data, reason);
	strbuf_free(&esc);
}

/* lda_prefetch - ask proxyd in one round trip what delivering to rcpt
 * most likely asks: its Maildir, its limits and its domain's */
static void lda_prefetch(struct lda_ctx *ctx, const char *rcpt)
{
	const char *at = strrchr(rcpt, '@');
	const struct lookup_key keys[] = {
	    {LOOKUP_TABLE_MAILBOXES, rcpt},
	    {LOOKUP_TABLE_LIMITS, rcpt},
	    {LOOKUP_TABLE_DOMAIN_LIMITS, at != NULL ? at + 1 : ""},
	};

	lookup_prefetch(ctx->lookup, keys, at != NULL ? 3 : 2);
}

/* lda_deliver_rcpt - look up and deliver; the outcome goes into rcpt */
void lda_deliver_rcpt(struct lda_ctx *ctx, const char *queue_id,
		      const char *sender, struct deliver_rcpt *rcpt,
		      const struct lda_source *src)
{
	struct strbuf *mailbox = strbuf_alloc(128);
	struct lda_quota quota = {ctx, queue_id, rcpt->address, NULL, false};
	struct maildir_msg msg = {.sender = sender,
				  .recipient = rcpt->address,
				  .read = src->read,
				  .read_ctx = src->ctx,
				  .check = lda_quota_check,
				  .commit = lda_quota_commit,
				  .hook_ctx = &quota};
	struct maildir_result res;
	const char *err = "";
	char *user = NULL;
	int r;

	lda_prefetch(ctx, rcpt->address);
	r = lda_lookup_mailbox(ctx, rcpt->address, mailbox, &user, &err);
	quota.user = user;
	if (r == LOOKUP_NOKEY) {
		deliver_set_result(rcpt, DELIVER_BOUNCE, "5.1.1",
				   "unknown user: \"%s\"", rcpt->address);
		goto out;
	}
	if (r != LOOKUP_OK) {
		deliver_set_result(rcpt, DELIVER_DEFER, "4.3.0",
				   "mailbox lookup failed (%s): %s",
				   lookup_status_name(r), err ? err : "");
		lda_warn(queue_id, rcpt->address, rcpt->reason);
		goto out;
	}
	maildir_result_init(&res);
	(void)maildir_deliver(ctx->base_fd, mailbox->data, &msg, &res);
	deliver_set_result(rcpt, res.status, res.dsn, "%s", res.reason->data);
	if (res.status != DELIVER_OK)
		lda_warn(queue_id, rcpt->address, rcpt->reason);
	maildir_result_release(&res);
out:
	lookup_prefetch_drop(ctx->lookup);
	free(user);
	strbuf_free(&mailbox);
}
