/*
 * NAME
 *	lookup_limits - parse the values of proxyd's quota tables
 * SYNOPSIS
 *	see lookup_clnt.h
 * DESCRIPTION
 *	virtual_mailbox_limits answers "quota_bytes,quota_messages,
 *	used_bytes,used_messages" and virtual_domain_limits
 *	"quota_bytes,used_bytes": exactly that many non-negative decimal
 *	integers separated by commas. Anything else is malformed (-1), and
 *	the caller treats it like a failed lookup. Pure functions, kept
 *	apart from the client so tests that replace the client at link
 *	time still get them.
 * SEE ALSO
 *	docs/proxyd.md, docs/quota.md
 */
#include "sys_defs.h"

#include <limits.h>

#include "cfg.h"
#include "lookup_clnt.h"

/* lookup_parse_numbers - exactly n comma-separated integers >= 0 */
static int lookup_parse_numbers(const char *value, long long *v, size_t n)
{
	const char *p = value, *err;
	char field[32];
	size_t i, len;

	for (i = 0; i < n; i++) {
		const char *comma = strchr(p, ',');

		len = comma ? (size_t)(comma - p) : strlen(p);
		if (len == 0 || len >= sizeof(field) ||
		    (comma == NULL) != (i == n - 1))
			return -1;
		memcpy(field, p, len);
		field[len] = '\0';
		if (cfg_parse_int(field, 0, LLONG_MAX, &v[i], &err) < 0)
			return -1;
		p = comma ? comma + 1 : p + len;
	}
	return 0;
}

/* lookup_parse_limits - "quota_bytes,quota_messages,used_bytes,used_msgs" */
int lookup_parse_limits(const char *value, struct lookup_limits *limits)
{
	long long v[4];

	if (lookup_parse_numbers(value, v, 4) < 0)
		return -1;
	limits->quota_bytes = v[0];
	limits->quota_messages = v[1];
	limits->used_bytes = v[2];
	limits->used_messages = v[3];
	return 0;
}

/* lookup_parse_domain_limits - "quota_bytes,used_bytes" */
int lookup_parse_domain_limits(const char *value,
			       struct lookup_domain_limits *limits)
{
	long long v[2];

	if (lookup_parse_numbers(value, v, 2) < 0)
		return -1;
	limits->quota_bytes = v[0];
	limits->used_bytes = v[1];
	return 0;
}
