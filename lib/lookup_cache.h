/*
 * NAME
 *	lookup_cache.h - a short memory of "found / not found" answers
 * DESCRIPTION
 *	For lookups whose answer a caller may reuse for some seconds
 *	(is this domain local?): smtpd for each RCPT, qmgr for each
 *	recipient's transport. The value is not kept; only the status.
 */
#ifndef POSTERN_LOOKUP_CACHE_H
#define POSTERN_LOOKUP_CACHE_H

#include "sys_defs.h"

struct lookup_clnt;
struct lookup_cache;

/* lookup_cache_create - remember found and not-found answers for ttl_s
 * seconds and failures (RETRY, DENY, BAD) for fail_ttl_s (0: never). */
struct lookup_cache *lookup_cache_create(int ttl_s, int fail_ttl_s);
void lookup_cache_free(struct lookup_cache **cachep);

/*
 * lookup_cache_query - lookup_query() of key in table, or the status it
 * gave less than the TTL ago. *error_r says why on anything but
 * LOOKUP_OK and LOOKUP_NOKEY.
 */
int lookup_cache_query(struct lookup_cache *cache, struct lookup_clnt *clnt,
		       const char *table, const char *key,
		       const char **error_r);

#endif
