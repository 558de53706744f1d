/*
 * NAME
 *	smtpd - the Postern SMTP server
 * SYNOPSIS
 *	smtpd -c DIR -n SERVICE [-u USER] [-r] [-o name=value]... [-S]
 * DESCRIPTION
 *	smtpd serves one SMTP session per process under master (or one
 *	client on standard input with -S): RFC 5321 with PIPELINING,
 *	SIZE, 8BITMIME, ENHANCEDSTATUSCODES, SMTPUTF8, CHUNKING and DSN.
 *	It validates each recipient through proxyd, adds the Received
 *	header and hands the message to cleanup, answering 250 only after
 *	cleanup has the queue file safely on disk. docs/smtpd.md
 *	describes the behaviour and every parameter it reads.
 * DIAGNOSTICS
 *	Log lines in Postfix's shapes (connect, client=, reject,
 *	disconnect) to the maillog; see docs/smtpd.md.
 * SEE ALSO
 *	daemons/smtpd/smtpd.h, lib/server.h, docs/smtpd.md
 */
#include "sys_defs.h"

#include "server.h"

#include "smtpd.h"

/* main - wire the session code into the server skeleton */
int main(int argc, char **argv)
{
	static const struct server_spec spec = {
	    .name = "smtpd",
	    .model = SERVER_SINGLE,
	    .pre_init = smtpd_pre_init,
	    .serve = smtpd_serve,
	};

	server_main(argc, argv, &spec);
}
