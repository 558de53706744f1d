/*
 * NAME
 *	anvil - Postern's connection and rate counter
 * SYNOPSIS
 *	anvil -c DIR -n anvil [-u USER] [-o name=value]...   (started by master)
 * DESCRIPTION
 *	One resident process (services.conf: `anvil unix private/anvil
 *	postern n 1 anvil -o service_start=always`) that counts, per
 *	service and client address, the connections open now and, per
 *	anvil_rate_time_unit, the connections, AUTH commands and AUTH
 *	failures. smtpd asks it at connect and at each AUTH command and
 *	failure, sending the limits of its own service; anvil answers ok
 *	or limit. Master cannot count for smtpd: the smtpd processes
 *	accept the connections themselves.
 *
 *	The counts live in memory only. When anvil restarts, they start
 *	from zero; while it is unreachable smtpd serves clients without
 *	limits (fail open, docs/anvil.md).
 * DIAGNOSTICS
 *	Malformed requests and a full table are logged as warnings; the
 *	peak counts every anvil_status_update_time and at exit as
 *	"statistics: max connection count N for (smtp:ADDR) at TIME".
 * SEE ALSO
 *	docs/anvil.md, docs/ipc.md, lib/proto_anvil.h, smtpd(8)
 */
#include "sys_defs.h"

#include <sys/resource.h>

#include "server.h"

#include "anvil.h"

/* anvil_pre_init - room for one descriptor per smtpd process */
static void anvil_pre_init(struct server *srv)
{
	struct rlimit rl;

	(void)srv;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* main - wire the counter to the server skeleton */
int main(int argc, char **argv)
{
	static const struct server_spec spec = {
	    .name = "anvil",
	    .model = SERVER_MULTI,
	    .pre_init = anvil_pre_init,
	    .post_init = anvil_serve_init,
	    .serve = anvil_serve,
	    .pre_exit = anvil_serve_exit,
	};

	server_main(argc, argv, &spec);
}
