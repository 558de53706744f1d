/*
 * NAME
 *	proxyd - the lookup proxy: the one daemon that talks to PostgreSQL
 * SYNOPSIS
 *	proxyd -c DIR -n proxyd [-u postern-proxy] [-o name=value]...
 *	(started by master: services.conf line
 *	 proxyd unix private/proxyd postern-proxy n 1 proxyd
 *	     -o socket_mode=0660 -o service_start=always)
 * DESCRIPTION
 *	proxyd answers recipient, domain, alias, quota-limit and sender
 *	login lookups, password checks and quota-usage updates for the
 *	other Postern programs over private/proxyd (docs/proxyd.md). It
 *	is the only mail daemon that reads DIR/proxyd.conf (mode 0600,
 *	owner postern-proxy) and so the only one holding database
 *	credentials; clients can name only the tables that file lists
 *	and never send SQL.
 *
 *	One resident process serves every client from an event loop. It
 *	keeps its database connections open and makes them again with
 *	backoff when they break; queries are prepared statements with the
 *	key's parts as bind parameters; answers are cached for cache_ttl
 *	(found) and negative_cache_ttl (not found) seconds. Password
 *	checks run in a bounded pool of threads so that lookups never
 *	wait behind them.
 *
 *	proxyd.conf is read before the privilege drop; postern.conf gives
 *	recipient_delimiter and virtual_uid (the only account allowed to
 *	update quota usage).
 * DIAGNOSTICS
 *	Problems with proxyd.conf are fatal (master restarts proxyd with
 *	a throttle). Database trouble is a warning, and every lookup then
 *	answers "temporary failure", never "not found".
 * SEE ALSO
 *	docs/proxyd.md, conf.d/proxyd.conf, schema/, lookup_clnt.h
 */
#include "sys_defs.h"

#include <unistd.h>

#include "log.h"
#include "passwd.h"
#include "server.h"
#include "strbuf.h"
#include "xalloc.h"
#include "proxyd.h"

static struct proxyd_conf proxyd_conf;

/* proxyd_pre_init - read proxyd.conf while still privileged */
static void proxyd_pre_init(struct server *srv)
{
	struct strbuf why;
	char *path = xasprintf("%s/proxyd.conf", srv->config_dir);

	strbuf_init(&why, 128);
	proxyd_conf.recipient_delimiter = xstrdup(
	    srv->cfg.recipient_delimiter ? srv->cfg.recipient_delimiter : "");
	if (proxyd_conf_read(&proxyd_conf, path, &why) < 0)
		log_fatal("%s", strbuf_str(&why));
	if (getuid() != 0)
		proxyd_serve_set_developer(getuid());
	strbuf_release(&why);
	free(path);
}

/* proxyd_post_init - connections, password workers, the cache */
static void proxyd_post_init(struct server *srv)
{
	size_t i;
	struct strbuf names;

	strbuf_init(&names, 128);
	for (i = 0; i < proxyd_conf.ntables; i++)
		strbuf_printf_append(&names, "%s%s", i ? " " : "",
				     proxyd_conf.tables[i].name);
	log_info("tables: %s", names.len ? strbuf_str(&names) : "(none)");
	strbuf_release(&names);
	(void)passwd_dummy_hash();
	proxyd_serve_init(srv, &proxyd_conf);
	proxyd_auth_init(srv->loop, &proxyd_conf);
	proxyd_db_init(srv->loop, &proxyd_conf);
}

/* main - the proxyd service */
int main(int argc, char **argv)
{
	static const struct server_spec spec = {
	    .name = "proxyd",
	    .model = SERVER_MULTI,
	    .pre_init = proxyd_pre_init,
	    .post_init = proxyd_post_init,
	    .serve = proxyd_serve,
	};

	server_main(argc, argv, &spec);
}
