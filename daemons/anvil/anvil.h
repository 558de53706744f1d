/*
 * NAME
 *	anvil.h - the connection and rate counter: private interfaces
 * DESCRIPTION
 *	anvil_table.c is the counting table, pure and clock-free (every
 *	call is given the time), so the unit tests drive it directly.
 *	anvil_serve.c serves private/anvil from the event loop and ties
 *	each client connection to the connects it registered.
 *
 *	One entry per (service, client address) holds the number of
 *	connections open now and, for the current time unit, the numbers
 *	of connections, AUTH commands and AUTH failures. A unit starts at
 *	the entry's first event after the previous unit ran out (fixed
 *	windows, as Postfix's anvil counts).
 *
 *	Memory is bounded: at most max entries. An entry with no open
 *	connection and a unit that ran out is forgotten by
 *	anvil_table_expire(); when the table is full, the least recently
 *	used entry without open connections makes room.
 */
#ifndef POSTERN_ANVIL_H
#define POSTERN_ANVIL_H

#include "sys_defs.h"

struct server;

#define ANVIL_TABLE_MAX 65536        /* entries, each ~150 bytes */
#define ANVIL_CLIENT_CONNECT_MAX 256 /* open connects per client socket */
#define ANVIL_EXPIRE_MAX_MS 60000    /* longest pause between sweeps */

struct anvil_entry {
	struct anvil_entry *hnext; /* hash chain */
	struct anvil_entry *older; /* LRU list: towards the oldest */
	struct anvil_entry *newer; /* towards the most recently used */
	uint64_t hash;
	char *service;
	char *addr;
	long long count;     /* connections open now */
	long long rate;      /* connections in this unit */
	long long auth_rate; /* AUTH commands in this unit */
	long long failures;  /* AUTH failures in this unit */
	int64_t unit_start;  /* ms */
	int64_t last_used;   /* ms */
};

struct anvil_table;

struct anvil_table *anvil_table_create(size_t max, int64_t unit_ms,
				       uint64_t seed);
void anvil_table_free(struct anvil_table **tp);
size_t anvil_table_size(const struct anvil_table *t);

/* anvil_table_find - the entry, or NULL; its unit is brought up to date */
struct anvil_entry *anvil_table_find(struct anvil_table *t, const char *service,
				     const char *addr, int64_t now);

/* anvil_table_get - the entry, made when absent; NULL when the table is
 * full of entries with open connections. */
struct anvil_entry *anvil_table_get(struct anvil_table *t, const char *service,
				    const char *addr, int64_t now);

/* Events on an entry from anvil_table_get(). */
void anvil_table_connect(struct anvil_entry *e);
void anvil_table_disconnect(struct anvil_table *t, struct anvil_entry *e,
			    int64_t now);
void anvil_table_auth(struct anvil_entry *e);
void anvil_table_auth_failure(struct anvil_entry *e);

/* anvil_table_expire - forget idle entries whose unit ran out; returns
 * how many. */
size_t anvil_table_expire(struct anvil_table *t, int64_t now);

/* anvil_serve.c */
void anvil_serve_init(struct server *srv);
void anvil_serve_exit(struct server *srv);
void anvil_serve(struct server *srv, int fd);

#endif
