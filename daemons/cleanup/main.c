/*
 * NAME
 *	cleanup - canonicalise and enqueue messages
 * SYNOPSIS
 *	cleanup -c DIR -n cleanup [-u USER] [-r] [-o name=value]... [-S]
 * DESCRIPTION
 *	cleanup receives one message per connection on private/cleanup
 *	from smtpd, pickup and bounce (docs/ipc.md, "cleanup"), adds
 *	Message-ID and Date headers when they are missing, refuses mail
 *	that has looped (more than hopcount_limit Received headers: 5.4.6)
 *	or is larger than message_size_limit (5.3.4), expands virtual
 *	aliases through proxyd (virtual_alias_maps; recursive, duplicate-
 *	free, bounded, loop-safe; off with virtual_alias_expansion = no),
 *	and writes the queue file into incoming/ (docs/queue-format.md). It
 *	answers status=ok only after the file and the directory are
 *	fsynced, then wakes qmgr.
 *
 *	Process model: SERVER_SINGLE, one client per process, as Postfix's
 *	cleanup. Every step (fsync, the proxyd lookups) blocks, so an
 *	event loop would only interleave waits; master runs up to the
 *	service's maxproc processes and reuses each for max_use clients.
 *
 *	Runs as mail_owner; works chrooted (-r) into the queue directory.
 * DIAGNOSTICS
 *	"QID: message-id=<...>" per queued message, "QID: reject: ..." per
 *	refusal; fatal when incoming/ cannot be opened.
 * SEE ALSO
 *	docs/ipc.md, docs/queue-format.md, smtpd, pickup, qmgr
 */
#include "sys_defs.h"

#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include "log.h"
#include "lookup_clnt.h"
#include "qfile.h"
#include "server.h"
#include "xalloc.h"

#include "cleanup.h"

/* cleanup_post_init - open incoming/ and the proxyd client */
static void cleanup_post_init(struct server *srv)
{
	struct cleanup_ctx *ctx = xcalloc(1, sizeof(*ctx));
	char *incoming;
	long long ms = srv->cfg.ipc_timeout * 1000;
	int removed;

	if (srv->chroot) {
		incoming = xstrdup("incoming");
		ctx->qmgr_path = xstrdup("private/qmgr");
	} else {
		incoming = xasprintf("%s/incoming", srv->cfg.queue_directory);
		ctx->qmgr_path =
		    xasprintf("%s/private/qmgr", srv->cfg.queue_directory);
	}
	ctx->qmgr_fd = -1;
	ctx->incoming_fd = open(incoming, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ctx->incoming_fd < 0)
		log_fatal("open %s: %m", incoming);
	free(incoming);
	/* Temporary files of cleanup processes that died (only where
	 * O_TMPFILE cannot be used, e.g. chrooted). */
	if ((removed = qfile_remove_stale(ctx->incoming_fd, 0)) > 0)
		log_info("removed %d stale temporary queue file%s", removed,
			 removed == 1 ? "" : "s");
	ctx->timeout_ms = ms > INT_MAX ? INT_MAX : (int)ms;
	if (srv->cfg.virtual_alias_expansion)
		ctx->lookup = lookup_clnt_create_cfg(&srv->cfg, srv->chroot);
	srv->ctx = ctx;
}

/* cleanup_pre_exit - release the state */
static void cleanup_pre_exit(struct server *srv)
{
	struct cleanup_ctx *ctx = srv->ctx;

	if (ctx == NULL)
		return;
	if (ctx->lookup != NULL)
		lookup_clnt_free(&ctx->lookup);
	(void)close(ctx->incoming_fd);
	if (ctx->qmgr_fd >= 0)
		(void)close(ctx->qmgr_fd);
	free(ctx->qmgr_path);
	free(ctx);
	srv->ctx = NULL;
}

/* main - the cleanup service */
int main(int argc, char **argv)
{
	static const struct server_spec spec = {
	    .name = "cleanup",
	    .model = SERVER_SINGLE,
	    .post_init = cleanup_post_init,
	    .serve = cleanup_serve,
	    .pre_exit = cleanup_pre_exit,
	};

	server_main(argc, argv, &spec);
}
