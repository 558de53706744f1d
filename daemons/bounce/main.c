/*
 * NAME
 *	bounce - Postern's delivery status notifications
 * SYNOPSIS
 *	bounce -c DIR -n bounce [-u USER] [-o name=value]...   (started by master)
 * DESCRIPTION
 *	qmgr asks bounce (private/bounce) to tell a sender that mail
 *	could not be delivered. bounce builds an RFC 3464 notification
 *	(multipart/report; report-type=delivery-status: an explanation,
 *	the machine-readable delivery-status part, and the original
 *	message or its headers as RET asks) and submits it to cleanup with
 *	the null sender, so that it is never bounced itself.
 *
 *	One client at a time (SERVER_SINGLE).
 * DIAGNOSTICS
 *	Failures to submit are logged and answered "retry": qmgr keeps the
 *	message and tries again later.
 * SEE ALSO
 *	qmgr(8), docs/qmgr.md, RFC 3464, RFC 6522
 */
#include "sys_defs.h"

#include "server.h"
#include "bounce.h"

/* main - wire the service to the server skeleton */
int main(int argc, char **argv)
{
	static const struct server_spec spec = {
	    .name = "bounce",
	    .model = SERVER_SINGLE,
	    .serve = bounce_serve,
	};

	server_main(argc, argv, &spec);
}
