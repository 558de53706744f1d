/*
 * NAME
 *	pickup.h - pickup's private interfaces
 * DESCRIPTION
 *	pickup_serve.c relays one local submission (public/submit, protocol
 *	"submit") to cleanup; main.c wires it to server_main().
 */
#ifndef POSTERN_PICKUP_H
#define POSTERN_PICKUP_H

#include "sys_defs.h"

struct server;
struct strbuf;

#define PICKUP_CLIENT_TIMEOUT 60 /* seconds per read from the submitter */

struct pickup_ctx {
	char *cleanup_path;     /* private/cleanup */
	int cleanup_timeout_ms; /* ipc_timeout */
	int client_timeout_ms;
};

void pickup_serve(struct server *srv, int fd);
void pickup_qualify(struct strbuf *out, const char *addr,
		    const char *myhostname);
void pickup_received(struct strbuf *out, const char *myhostname,
		     unsigned long uid, const char *queue_id, long long now);

#endif
