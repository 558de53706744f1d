/*
 * NAME
 *	lookup_cache - a short memory of "found / not found" answers
 * SYNOPSIS
 *	see lookup_cache.h
 * DESCRIPTION
 *	A fixed table of LOOKUP_CACHE_SLOTS slots, chosen by a hash of
 *	table and key; a new answer replaces whatever its slot held. A
 *	slot holds its own copies of table and key, the status and when
 *	it expires (the monotonic clock). Nothing is ever sent to proxyd
 *	from here but through lookup_query().
 *
 *	The answers it keeps are as old as the TTL at most, on top of
 *	proxyd's own cache_ttl: a domain removed from the database may
 *	still be taken for local that much longer.
 * DIAGNOSTICS
 *	None; the caller logs failures.
 * SEE ALSO
 *	lookup_clnt.h
 */
#include "sys_defs.h"

#include "event.h"
#include "lookup_cache.h"
#include "lookup_clnt.h"
#include "strbuf.h"
#include "xalloc.h"

#define LOOKUP_CACHE_SLOTS 256

struct lookup_cache_slot {
	char *table;
	char *key;
	int status;
	int64_t expires; /* ev_now_ms() */
};

struct lookup_cache {
	int64_t ttl_ms;
	int64_t fail_ttl_ms;
	struct lookup_cache_slot slots[LOOKUP_CACHE_SLOTS];
	struct strbuf *value; /* lookup_query()'s answer, not kept */
};

/* lookup_cache_create - an empty cache */
struct lookup_cache *lookup_cache_create(int ttl_s, int fail_ttl_s)
{
	struct lookup_cache *cache = xcalloc(1, sizeof(*cache));

	cache->ttl_ms = (int64_t)ttl_s * 1000;
	cache->fail_ttl_ms = (int64_t)fail_ttl_s * 1000;
	cache->value = strbuf_alloc(64);
	return cache;
}

/* lookup_cache_free - forget everything */
void lookup_cache_free(struct lookup_cache **cachep)
{
	struct lookup_cache *cache = *cachep;
	size_t i;

	if (cache == NULL)
		return;
	for (i = 0; i < LOOKUP_CACHE_SLOTS; i++) {
		free(cache->slots[i].table);
		free(cache->slots[i].key);
	}
	strbuf_free(&cache->value);
	free(cache);
	*cachep = NULL;
}

/* lookup_cache_slot - the slot of (table, key) */
static struct lookup_cache_slot *lookup_cache_slot(struct lookup_cache *cache,
						   const char *table,
						   const char *key)
{
	size_t h = 5381;
	const char *p;

	for (p = table; *p; p++)
		h = h * 33 + (unsigned char)*p;
	for (p = key; *p; p++)
		h = h * 33 + (unsigned char)*p;
	return &cache->slots[h % LOOKUP_CACHE_SLOTS];
}

/* lookup_cache_query - the kept status, or ask proxyd and keep it */
int lookup_cache_query(struct lookup_cache *cache, struct lookup_clnt *clnt,
		       const char *table, const char *key, const char **error_r)
{
	struct lookup_cache_slot *slot = lookup_cache_slot(cache, table, key);
	int64_t now = ev_now_ms();
	int64_t ttl;
	int status;

	if (slot->key != NULL && slot->expires > now &&
	    strcmp(slot->table, table) == 0 && strcmp(slot->key, key) == 0) {
		if (slot->status != LOOKUP_OK && slot->status != LOOKUP_NOKEY &&
		    error_r != NULL)
			*error_r = "temporary lookup failure (cached)";
		return slot->status;
	}
	status = lookup_query(clnt, table, key, cache->value, error_r);
	ttl = status == LOOKUP_OK || status == LOOKUP_NOKEY
		  ? cache->ttl_ms
		  : cache->fail_ttl_ms;
	if (ttl > 0) {
		free(slot->table);
		free(slot->key);
		slot->table = xstrdup(table);
		slot->key = xstrdup(key);
		slot->status = status;
		slot->expires = now + ttl;
	}
	return status;
}
