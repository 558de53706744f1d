/*
 * NAME
 *	smtpd_cleanup - the message's way into the queue
 * SYNOPSIS
 *	see smtpd.h
 * DESCRIPTION
 *	A thin layer over the cleanup client (lib/proto_cleanup.h):
 *	smtpd_cleanup_open() connects to private/cleanup (relative to the
 *	chroot when smtpd runs chrooted into the queue directory), sends
 *	`open` with the client's name, address, HELO and protocol, stores
 *	the queue id in the session and sends the envelope. Recipients and
 *	content are streamed without replies; smtpd_cleanup_end() asks for
 *	the verdict, which is ok only after cleanup fsynced the queue file
 *	and its directory. smtpd_cleanup_free() before the end abandons
 *	the message: nothing stays queued.
 *
 *	Every read and write has the deadline ipc_timeout.
 * DIAGNOSTICS
 *	Failures come back as status values; the caller logs them.
 * SEE ALSO
 *	docs/ipc.md, lib/proto_cleanup.h
 */
#include "sys_defs.h"

#include "params.h"
#include "proto_cleanup.h"
#include "strbuf.h"
#include "xalloc.h"

#include "smtpd.h"

struct smtpd_cleanup {
	struct cleanup_clnt *clnt;
	bool failed; /* a streamed request could not be sent */
};

/* smtpd_cleanup_open - open a queue file for the session's transaction */
struct smtpd_cleanup *smtpd_cleanup_open(struct smtpd_session *s,
					 const char **error_r)
{
	static char why[300];
	struct cleanup_open_info info;
	struct cleanup_result res;
	struct smtpd_cleanup *c;
	struct cleanup_clnt *clnt;
	char *path;
	long long timeout = s->cfg->ipc_timeout * 1000;

	memset(&info, 0, sizeof(info));
	info.origin = "smtpd";
	info.client_name = s->client_name;
	info.client_addr = s->client_addr;
	info.helo = s->helo;
	info.protocol = s->esmtp ? "ESMTP" : "SMTP";
	info.submit_uid = -1;
	if (s->chrooted)
		path = xstrdup("private/cleanup");
	else
		path = xasprintf("%s/private/cleanup", s->cfg->queue_directory);
	memset(&res, 0, sizeof(res));
	clnt = cleanup_clnt_open(
	    path, CLEANUP_PROTOCOL,
	    timeout > 1000000000 ? 1000000000 : (int)timeout, &info, &res);
	free(path);
	if (clnt == NULL) {
		snprintf(why, sizeof(why), "%s",
			 res.reason[0] ? res.reason : "cleanup unavailable");
		*error_r = why;
		return NULL;
	}
	snprintf(s->queue_id, sizeof(s->queue_id), "%s",
		 cleanup_clnt_queue_id(clnt));
	c = xcalloc(1, sizeof(*c));
	c->clnt = clnt;
	if (cleanup_clnt_envelope(clnt, s->sender.addr.data, s->ret, s->envid,
				  s->body, s->smtputf8) < 0)
		c->failed = true;
	return c;
}

/* smtpd_cleanup_rcpt - one accepted recipient */
int smtpd_cleanup_rcpt(struct smtpd_cleanup *c, const struct smtpd_rcpt *r)
{
	if (c->failed ||
	    cleanup_clnt_rcpt(c->clnt, r->addr, r->orcpt, r->notify) < 0) {
		c->failed = true;
		return -1;
	}
	return 0;
}

/* smtpd_cleanup_data - message content, LF line endings */
int smtpd_cleanup_data(struct smtpd_cleanup *c, const char *buf, size_t len)
{
	while (len > 0 && !c->failed) {
		size_t n = len > CLEANUP_CHUNK_MAX ? CLEANUP_CHUNK_MAX : len;

		if (cleanup_clnt_data(c->clnt, buf, n) < 0)
			c->failed = true;
		buf += n;
		len -= n;
	}
	return c->failed ? -1 : 0;
}

/* smtpd_cleanup_end - the verdict: SMTPD_CLEANUP_OK, _RETRY or _FAIL */
int smtpd_cleanup_end(struct smtpd_cleanup *c, struct strbuf *dsn,
		      struct strbuf *reason)
{
	struct cleanup_result res;

	memset(&res, 0, sizeof(res));
	if (c->failed) {
		(void)strbuf_copy(reason, "queue file write error");
		return SMTPD_CLEANUP_RETRY;
	}
	switch (cleanup_clnt_end(c->clnt, &res)) {
	case CLEANUP_STAT_OK:
		return SMTPD_CLEANUP_OK;
	case CLEANUP_STAT_FAIL:
		(void)strbuf_copy(dsn, res.dsn);
		(void)strbuf_copy(reason, res.reason);
		return SMTPD_CLEANUP_FAIL;
	default:
		(void)strbuf_copy(dsn, res.dsn);
		(void)strbuf_copy(reason, res.reason);
		return SMTPD_CLEANUP_RETRY;
	}
}

/* smtpd_cleanup_free - disconnect; before end this abandons the message */
void smtpd_cleanup_free(struct smtpd_cleanup **cp)
{
	struct smtpd_cleanup *c = *cp;

	if (c == NULL)
		return;
	cleanup_clnt_free(&c->clnt);
	free(c);
	*cp = NULL;
}
