/*
 * NAME
 *	services.h - the services.conf parser
 * DESCRIPTION
 *	One line per service, in the spirit of Postfix's master.cf:
 *
 *	  service type listen user chroot maxproc command [args] [-o n=v]
 *
 *	type is inet (TCP, listen = ADDR:PORT or [V6]:PORT), unix (a
 *	socket under the queue directory, e.g. private/cleanup) or public
 *	(the world-writable socket directory). chroot is y or n, maxproc a
 *	number or "-" for default_process_limit. "-o name=value" overrides a
 *	postern.conf parameter for this service alone; max_use, max_idle,
 *	socket_mode and service_start are overridden the same way.
 */
#ifndef POSTERN_SERVICES_H
#define POSTERN_SERVICES_H

#include "sys_defs.h"

struct strbuf;

enum service_type {
	SERVICE_INET,
	SERVICE_UNIX,
	SERVICE_PUBLIC,
};

struct service_override {
	char *name;
	char *value;
};

struct service_def {
	char *name;
	enum service_type type;
	char *listen;
	char *user;
	bool chroot;
	long long maxproc; /* -1 = default_process_limit */
	char *command;
	char **args; /* NULL-terminated, excluding -o pairs */
	size_t nargs;
	struct service_override *overrides;
	size_t noverrides;
	int lineno;
};

struct service_list {
	struct service_def *items;
	size_t count;
};

int services_load(const char *path, struct service_list *list,
		  struct strbuf *why);
void services_release(struct service_list *list);
const struct service_def *services_find(const struct service_list *list,
					const char *name);
const char *service_override_get(const struct service_def *svc,
				 const char *name);

#endif
