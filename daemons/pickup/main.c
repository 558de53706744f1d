/*
 * NAME
 *	pickup - accept local submissions from postern-sendmail
 * SYNOPSIS
 *	pickup -c DIR -n pickup [-u USER] [-r] [-o name=value]... [-S]
 * DESCRIPTION
 *	pickup serves the world-writable socket public/submit (services.conf
 *	gives it socket_mode 0666; the public/ directory is 0711). Each
 *	connection is one message from a local user: pickup identifies the
 *	user with SO_PEERCRED, records the uid in the message's Received
 *	header ("(Postern, from userid UID)") and in the queue file
 *	(submit_uid), and hands the message to cleanup. No program needs to
 *	be set-uid or set-gid for local mail.
 *
 *	Process model: SERVER_SINGLE. The submitter has read its whole
 *	message before it connects, and each read from it has a deadline of
 *	min(ipc_timeout, 60s), so one process serves submissions quickly.
 * DIAGNOSTICS
 *	"QID: uid=N from=<sender>" per submission.
 * SEE ALSO
 *	postern-sendmail (admin/sendmail), cleanup, docs/ipc.md
 */
#include "sys_defs.h"

#include <limits.h>

#include "server.h"
#include "xalloc.h"

#include "pickup.h"

/* pickup_post_init - where cleanup is, and the deadlines */
static void pickup_post_init(struct server *srv)
{
	struct pickup_ctx *ctx = xcalloc(1, sizeof(*ctx));
	long long t = srv->cfg.ipc_timeout;

	if (srv->chroot)
		ctx->cleanup_path = xstrdup("private/cleanup");
	else
		ctx->cleanup_path =
		    xasprintf("%s/private/cleanup", srv->cfg.queue_directory);
	ctx->cleanup_timeout_ms = t * 1000 > INT_MAX ? INT_MAX : (int)t * 1000;
	if (t > PICKUP_CLIENT_TIMEOUT)
		t = PICKUP_CLIENT_TIMEOUT;
	ctx->client_timeout_ms = (int)t * 1000;
	srv->ctx = ctx;
}

/* pickup_pre_exit - release the state */
static void pickup_pre_exit(struct server *srv)
{
	struct pickup_ctx *ctx = srv->ctx;

	if (ctx == NULL)
		return;
	free(ctx->cleanup_path);
	free(ctx);
	srv->ctx = NULL;
}

/* main - the pickup service */
int main(int argc, char **argv)
{
	static const struct server_spec spec = {
	    .name = "pickup",
	    .model = SERVER_SINGLE,
	    .post_init = pickup_post_init,
	    .serve = pickup_serve,
	    .pre_exit = pickup_pre_exit,
	};

	server_main(argc, argv, &spec);
}
