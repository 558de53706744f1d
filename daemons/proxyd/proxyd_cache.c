/*
 * NAME
 *	proxyd_cache - the lookup cache (positive and negative TTL)
 * SYNOPSIS
 *	see proxyd.h
 * DESCRIPTION
 *	A chained hash table keyed by (table, key) holding the answer
 *	(LOOKUP_OK with its value, or LOOKUP_NOKEY) and when it expires.
 *	Temporary failures are never stored. The table holds at most
 *	max_entries answers: when full, expired entries are swept, and if
 *	that frees nothing the whole cache is dropped (a cheap, bounded
 *	answer to a flood of distinct keys; the database still answers).
 * DIAGNOSTICS
 *	None.
 * SEE ALSO
 *	proxyd.h, docs/proxyd.md
 */
#include "sys_defs.h"

#include "lookup_clnt.h"
#include "xalloc.h"
#include "proxyd.h"

struct proxyd_cache_entry {
	struct proxyd_cache_entry *next;
	uint64_t hash;
	int table;
	int status;
	int64_t expires;
	char *key;
	char *value;
};

struct proxyd_cache {
	struct proxyd_cache_entry **buckets;
	size_t nbuckets;
	size_t count;
	size_t max;
};

/* proxyd_cache_hash - FNV-1a over the table number and the key */
static uint64_t proxyd_cache_hash(int table, const char *key)
{
	uint64_t h = 14695981039346656037ULL;

	h = (h ^ (uint64_t)(unsigned)table) * 1099511628211ULL;
	for (; *key; key++)
		h = (h ^ (unsigned char)*key) * 1099511628211ULL;
	return h;
}

/* proxyd_cache_create - an empty cache for at most max_entries */
struct proxyd_cache *proxyd_cache_create(size_t max_entries)
{
	struct proxyd_cache *c = xcalloc(1, sizeof(*c));

	c->max = max_entries;
	c->nbuckets = 1024;
	while (c->nbuckets < max_entries && c->nbuckets < (1U << 22))
		c->nbuckets <<= 1;
	c->buckets = xcalloc(c->nbuckets, sizeof(*c->buckets));
	return c;
}

/* proxyd_cache_entry_free - release one entry */
static void proxyd_cache_entry_free(struct proxyd_cache_entry *e)
{
	free(e->key);
	free(e->value);
	free(e);
}

/* proxyd_cache_sweep - drop expired entries (all when now < 0) */
static void proxyd_cache_sweep(struct proxyd_cache *c, int64_t now)
{
	size_t i;

	for (i = 0; i < c->nbuckets; i++) {
		struct proxyd_cache_entry **pp = &c->buckets[i], *e;

		while ((e = *pp) != NULL) {
			if (now < 0 || e->expires <= now) {
				*pp = e->next;
				proxyd_cache_entry_free(e);
				c->count--;
			} else {
				pp = &e->next;
			}
		}
	}
}

/* proxyd_cache_free - release the cache */
void proxyd_cache_free(struct proxyd_cache **cachep)
{
	struct proxyd_cache *c = *cachep;

	if (c == NULL)
		return;
	proxyd_cache_sweep(c, -1);
	free(c->buckets);
	free(c);
	*cachep = NULL;
}

/* proxyd_cache_find - the entry slot for (table, key) */
static struct proxyd_cache_entry **proxyd_cache_find(struct proxyd_cache *c,
						     int table, const char *key,
						     uint64_t hash)
{
	struct proxyd_cache_entry **pp = &c->buckets[hash & (c->nbuckets - 1)];

	for (; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->hash == hash && (*pp)->table == table &&
		    strcmp((*pp)->key, key) == 0)
			break;
	}
	return pp;
}

/* proxyd_cache_get - a live answer for (table, key): true if found */
bool proxyd_cache_get(struct proxyd_cache *c, int table, const char *key,
		      int64_t now_ms, int *status_r, const char **value_r)
{
	uint64_t hash = proxyd_cache_hash(table, key);
	struct proxyd_cache_entry **pp = proxyd_cache_find(c, table, key, hash);
	struct proxyd_cache_entry *e = *pp;

	if (e == NULL)
		return false;
	if (e->expires <= now_ms) {
		*pp = e->next;
		proxyd_cache_entry_free(e);
		c->count--;
		return false;
	}
	*status_r = e->status;
	*value_r = e->value;
	return true;
}

/* proxyd_cache_put - remember an answer until expires_ms */
void proxyd_cache_put(struct proxyd_cache *c, int table, const char *key,
		      int status, const char *value, int64_t expires_ms,
		      int64_t now_ms)
{
	uint64_t hash = proxyd_cache_hash(table, key);
	struct proxyd_cache_entry **pp, *e;

	if (c->max == 0 || expires_ms <= now_ms)
		return;
	pp = proxyd_cache_find(c, table, key, hash);
	if ((e = *pp) != NULL) {
		free(e->value);
	} else {
		if (c->count >= c->max) {
			proxyd_cache_sweep(c, now_ms);
			if (c->count >= c->max)
				proxyd_cache_sweep(c, -1);
			pp = proxyd_cache_find(c, table, key, hash);
		}
		e = xcalloc(1, sizeof(*e));
		e->hash = hash;
		e->table = table;
		e->key = xstrdup(key);
		*pp = e;
		c->count++;
	}
	e->status = status;
	e->value = value ? xstrdup(value) : NULL;
	e->expires = expires_ms;
}

/* proxyd_cache_value - the live found answer's value for (table, key),
 * or NULL; proxyd_cache_set_value() may replace it */
const char *proxyd_cache_value(struct proxyd_cache *c, int table,
			       const char *key, int64_t now_ms)
{
	int status;
	const char *value;

	if (!proxyd_cache_get(c, table, key, now_ms, &status, &value) ||
	    status != LOOKUP_OK)
		return NULL;
	return value;
}

/* proxyd_cache_set_value - a new value for a cached found answer; it
 * keeps its expiry time */
void proxyd_cache_set_value(struct proxyd_cache *c, int table, const char *key,
			    const char *value)
{
	uint64_t hash = proxyd_cache_hash(table, key);
	struct proxyd_cache_entry *e = *proxyd_cache_find(c, table, key, hash);

	if (e == NULL || e->status != LOOKUP_OK)
		return;
	free(e->value);
	e->value = xstrdup(value);
}

/* proxyd_cache_del - forget the answer for (table, key) */
void proxyd_cache_del(struct proxyd_cache *c, int table, const char *key)
{
	uint64_t hash = proxyd_cache_hash(table, key);
	struct proxyd_cache_entry **pp = proxyd_cache_find(c, table, key, hash);
	struct proxyd_cache_entry *e = *pp;

	if (e != NULL) {
		*pp = e->next;
		proxyd_cache_entry_free(e);
		c->count--;
	}
}

/* proxyd_cache_count - entries held (tests) */
size_t proxyd_cache_count(const struct proxyd_cache *c)
{
	return c->count;
}
