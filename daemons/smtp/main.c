/*
 * NAME
 *	smtp - Postern's outbound SMTP client
 * SYNOPSIS
 *	smtp -c DIR -n smtp [-u USER] [-o name=value]...   (started by master)
 * DESCRIPTION
 *	Delivers mail that is not for a local virtual domain. qmgr
 *	connects to private/smtp and sends `deliver` requests with the
 *	queue file's descriptor attached; smtp sends each message to the
 *	next hop, which is `relayhost` when set ("[host]:port": that
 *	host, no MX lookup; "host": its MX records), else the MX records
 *	of the recipient domain. It says EHLO as `myhostname`, uses
 *	STARTTLS when the server offers it (`smtp_tls_security_level` =
 *	none, may or encrypt), and applies `smtp_connect_timeout`,
 *	`smtp_helo_timeout` and `smtp_data_timeout` to every stage.
 *	A 4xx reply defers a recipient, a 5xx bounces it with the
 *	server's reply quoted.
 *
 *	One client at a time (SERVER_SINGLE); master runs as many
 *	processes as the service line allows.
 * DIAGNOSTICS
 *	Outcomes go back to qmgr, which logs the per-recipient lines.
 *	smtp logs TLS connections and protocol errors of its peers.
 * SEE ALSO
 *	qmgr(8), docs/qmgr.md, docs/ipc.md, RFC 5321, RFC 3207
 */
#include "sys_defs.h"

#include "server.h"
#include "smtp.h"

/* smtp_post_init - per-process state after the privilege drop */
static void smtp_post_init(struct server *srv)
{
	smtp_agent_init(srv);
}

/* main - wire the client to the server skeleton */
int main(int argc, char **argv)
{
	static const struct server_spec spec = {
	    .name = "smtp",
	    .model = SERVER_SINGLE,
	    .post_init = smtp_post_init,
	    .serve = smtp_agent_serve,
	};

	server_main(argc, argv, &spec);
}
