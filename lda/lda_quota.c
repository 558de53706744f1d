/*
 * NAME
 *	lda_quota - quota hook points of the delivery agent
 * SYNOPSIS
 *	see lda.h
 * DESCRIPTION
 *	maildir_deliver() calls lda_quota_check() once the message is
 *	safely written in tmp/ and before it enters new/, with its exact
 *	size S and the Maildir's root directory (where Maildir++ keeps
 *	"maildirsize"); a refusal there removes the tmp file and becomes
 *	the recipient's result. It calls lda_quota_commit() after the
 *	message is in new/ and new/ is fsynced.
 *
 *	Quota is not enforced yet: check accepts everything and commit
 *	does nothing. The plan (issue 7, ../shared/INTEROP.md section 4):
 *	check reads the limits from proxyd (virtual_mailbox_limits) and
 *	the usage from maildirsize (recalculating it the way Dovecot does
 *	when it is missing, too long or stale) and defers with 4.2.2 when
 *	usage + S would pass the limit, or bounces with 5.2.2 when S alone
 *	is larger than the limit; commit appends "S 1\n" to maildirsize
 *	in one O_APPEND write and reports the delivery to proxyd
 *	(lookup_quota_update) so quota2 follows.
 * DIAGNOSTICS
 *	None yet.
 * SEE ALSO
 *	lib/maildir.h, docs/lda.md
 */
#include "sys_defs.h"

#include "lda.h"

/* lda_quota_check - may this message of size bytes enter new/? */
enum deliver_status lda_quota_check(void *hook_ctx, int maildir_fd,
				    long long size, struct maildir_result *res)
{
	(void)hook_ctx;
	(void)maildir_fd;
	(void)size;
	(void)res;
	return DELIVER_OK;
}

/* lda_quota_commit - account for a message now in new/ */
void lda_quota_commit(void *hook_ctx, int maildir_fd,
		      const struct maildir_result *res)
{
	(void)hook_ctx;
	(void)maildir_fd;
	(void)res;
}
