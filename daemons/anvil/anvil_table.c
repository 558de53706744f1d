/*
 * NAME
 *	anvil_table - counters per (service, client address)
 * SYNOPSIS
 *	see anvil.h
 * DESCRIPTION
 *	A chained hash table (FNV-1a with a per-process random seed, so a
 *	client cannot aim many addresses at one chain without knowing it)
 *	plus a doubly linked list in order of last use. Lookups move the
 *	entry to the recently used end, so the oldest entries sit at the
 *	other end: expiry walks from there and stops at the first entry
 *	used within the time unit, and eviction takes the oldest entry
 *	without open connections.
 *
 *	Entries with open connections are never removed: anvil_serve.c
 *	holds pointers to them until the connection is disconnected.
 *
 *	Nothing here reads a clock or logs; callers pass the time in
 *	milliseconds (monotonic).
 * DIAGNOSTICS
 *	anvil_table_get() returns NULL when the table is full and every
 *	entry has open connections.
 * SEE ALSO
 *	anvil.h, docs/anvil.md
 */
#include "sys_defs.h"

#include "xalloc.h"

#include "anvil.h"

struct anvil_table {
	struct anvil_entry **buckets;
	size_t nbuckets; /* a power of two */
	size_t count;
	size_t max;
	int64_t unit_ms;
	uint64_t seed;
	struct anvil_entry *oldest;
	struct anvil_entry *newest;
};

/* anvil_hash - FNV-1a over service NUL addr, from a seeded basis */
static uint64_t anvil_hash(const struct anvil_table *t, const char *service,
			   const char *addr)
{
	uint64_t h = 14695981039346656037ULL ^ t->seed;
	const char *p;

	for (p = service; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	h = h * 1099511628211ULL;
	for (p = addr; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return h;
}

/* anvil_table_create - an empty table for at most max entries */
struct anvil_table *anvil_table_create(size_t max, int64_t unit_ms,
				       uint64_t seed)
{
	struct anvil_table *t = xcalloc(1, sizeof(*t));

	t->max = max > 0 ? max : 1;
	t->unit_ms = unit_ms > 0 ? unit_ms : 1;
	t->seed = seed;
	t->nbuckets = 64;
	while (t->nbuckets < t->max && t->nbuckets < (1U << 20))
		t->nbuckets <<= 1;
	t->buckets = xcalloc(t->nbuckets, sizeof(*t->buckets));
	return t;
}

/* anvil_lru_unlink - take e out of the use-ordered list */
static void anvil_lru_unlink(struct anvil_table *t, struct anvil_entry *e)
{
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		t->oldest = e->newer;
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		t->newest = e->older;
	e->older = e->newer = NULL;
}

/* anvil_lru_touch - e was used now: move it to the recent end */
static void anvil_lru_touch(struct anvil_table *t, struct anvil_entry *e,
			    int64_t now)
{
	if (t->newest != e) {
		if (e->older != NULL || e->newer != NULL || t->oldest == e)
			anvil_lru_unlink(t, e);
		e->older = t->newest;
		if (t->newest != NULL)
			t->newest->newer = e;
		t->newest = e;
		if (t->oldest == NULL)
			t->oldest = e;
	}
	e->last_used = now;
}

/* anvil_entry_free - release one entry's memory */
static void anvil_entry_free(struct anvil_entry *e)
{
	free(e->service);
	free(e->addr);
	free(e);
}

/* anvil_remove - unlink e from its chain and the list, and free it */
static void anvil_remove(struct anvil_table *t, struct anvil_entry *e)
{
	struct anvil_entry **pp = &t->buckets[e->hash & (t->nbuckets - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	anvil_lru_unlink(t, e);
	anvil_entry_free(e);
	t->count--;
}

/* anvil_table_free - release everything */
void anvil_table_free(struct anvil_table **tp)
{
	struct anvil_table *t = *tp;
	struct anvil_entry *e, *next;

	if (t == NULL)
		return;
	for (e = t->oldest; e != NULL; e = next) {
		next = e->newer;
		anvil_entry_free(e);
	}
	free(t->buckets);
	free(t);
	*tp = NULL;
}

/* anvil_table_size - entries held now */
size_t anvil_table_size(const struct anvil_table *t)
{
	return t->count;
}

/* anvil_roll - start a new unit when the entry's one has run out */
static void anvil_roll(struct anvil_table *t, struct anvil_entry *e,
		       int64_t now)
{
	if (now - e->unit_start >= t->unit_ms) {
		e->unit_start = now;
		e->rate = 0;
		e->auth_rate = 0;
		e->failures = 0;
	}
}

/* anvil_table_find - see anvil.h */
struct anvil_entry *anvil_table_find(struct anvil_table *t, const char *service,
				     const char *addr, int64_t now)
{
	uint64_t h = anvil_hash(t, service, addr);
	struct anvil_entry *e;

	for (e = t->buckets[h & (t->nbuckets - 1)]; e != NULL; e = e->hnext) {
		if (e->hash == h && strcmp(e->addr, addr) == 0 &&
		    strcmp(e->service, service) == 0) {
			anvil_roll(t, e, now);
			anvil_lru_touch(t, e, now);
			return e;
		}
	}
	return NULL;
}

/* anvil_evict - make room: drop the oldest entry without connections */
static bool anvil_evict(struct anvil_table *t)
{
	struct anvil_entry *e;

	for (e = t->oldest; e != NULL; e = e->newer) {
		if (e->count == 0) {
			anvil_remove(t, e);
			return true;
		}
	}
	return false;
}

/* anvil_table_get - see anvil.h */
struct anvil_entry *anvil_table_get(struct anvil_table *t, const char *service,
				    const char *addr, int64_t now)
{
	struct anvil_entry *e = anvil_table_find(t, service, addr, now);
	size_t b;

	if (e != NULL)
		return e;
	if (t->count >= t->max && anvil_table_expire(t, now) == 0 &&
	    !anvil_evict(t))
		return NULL;
	e = xcalloc(1, sizeof(*e));
	e->service = xstrdup(service);
	e->addr = xstrdup(addr);
	e->hash = anvil_hash(t, service, addr);
	e->unit_start = now;
	b = e->hash & (t->nbuckets - 1);
	e->hnext = t->buckets[b];
	t->buckets[b] = e;
	t->count++;
	anvil_lru_touch(t, e, now);
	return e;
}

/* anvil_table_connect - a new connection: open and per unit */
void anvil_table_connect(struct anvil_entry *e)
{
	e->count++;
	e->rate++;
}

/* anvil_table_disconnect - a connection has ended */
void anvil_table_disconnect(struct anvil_table *t, struct anvil_entry *e,
			    int64_t now)
{
	if (e->count > 0)
		e->count--;
	anvil_lru_touch(t, e, now);
}

/* anvil_table_auth - one more AUTH command */
void anvil_table_auth(struct anvil_entry *e)
{
	e->auth_rate++;
}

/* anvil_table_auth_failure - one more failed AUTH */
void anvil_table_auth_failure(struct anvil_entry *e)
{
	e->failures++;
}

/* anvil_table_expire - see anvil.h */
size_t anvil_table_expire(struct anvil_table *t, int64_t now)
{
	struct anvil_entry *e, *next;
	size_t gone = 0;

	/* last_used >= unit_start, so an entry unused for a whole unit
	 * has a unit that ran out; the list is in last_used order. */
	for (e = t->oldest; e != NULL && now - e->last_used >= t->unit_ms;
	     e = next) {
		next = e->newer;
		if (e->count == 0) {
			anvil_remove(t, e);
			gone++;
		}
	}
	return gone;
}
