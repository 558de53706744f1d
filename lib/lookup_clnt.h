/*
 * NAME
 *	lookup_clnt.h - blocking client of proxyd (lookups, AUTH, quota)
 * DESCRIPTION
 *	Used by smtpd, cleanup, the LDA and the admin command to ask proxyd
 *	over private/proxyd (docs/proxyd.md). Every call has a deadline
 *	(connect and each read/write: proxyd_timeout); a connection that
 *	proxyd dropped is re-opened once per call.
 *
 *	Answers are LOOKUP_OK (found; value filled), LOOKUP_NOKEY (not
 *	found), LOOKUP_RETRY (temporary failure), LOOKUP_DENY (table not
 *	allowed / write refused) and LOOKUP_BAD (malformed request).
 *	Callers treat DENY and BAD like RETRY: 4xx or defer, never
 *	"user unknown".
 *
 *	Tables (conf.d/proxyd.conf): virtual_mailbox_domains (domain ->
 *	domain), virtual_mailbox_maps (address -> maildir path relative to
 *	virtual_mailbox_base), virtual_alias_maps (address -> comma list
 *	of targets; an address that is itself a mailbox maps to itself;
 *	catch-all, alias domain and recipient_delimiter are resolved by
 *	proxyd), virtual_mailbox_limits (address -> "quota_bytes,
 *	quota_messages,used_bytes,used_messages", see
 *	lookup_parse_limits()), virtual_domain_limits (domain ->
 *	"quota_bytes,used_bytes": the domain's total quota and what its
 *	mailboxes use together, see lookup_parse_domain_limits()),
 *	smtpd_sender_login_maps (sender address -> comma list of SASL
 *	logins allowed to use it).
 */
#ifndef POSTERN_LOOKUP_CLNT_H
#define POSTERN_LOOKUP_CLNT_H

#include "sys_defs.h"

struct strbuf;
struct config;

#define LOOKUP_OK 0
#define LOOKUP_NOKEY 1
#define LOOKUP_RETRY 2
#define LOOKUP_DENY 3
#define LOOKUP_BAD 4

/* Table names of the default proxyd.conf. */
#define LOOKUP_TABLE_DOMAINS "virtual_mailbox_domains"
#define LOOKUP_TABLE_MAILBOXES "virtual_mailbox_maps"
#define LOOKUP_TABLE_ALIASES "virtual_alias_maps"
#define LOOKUP_TABLE_LIMITS "virtual_mailbox_limits"
#define LOOKUP_TABLE_DOMAIN_LIMITS "virtual_domain_limits"
#define LOOKUP_TABLE_SENDER_LOGINS "smtpd_sender_login_maps"

struct lookup_clnt;

/* A domain's total quota and its mailboxes' usage (0 = unlimited). */
struct lookup_domain_limits {
	long long quota_bytes;
	long long used_bytes;
};

/* Quota limits and usage of one mailbox (0 limit = unlimited). */
struct lookup_limits {
	long long quota_bytes;
	long long quota_messages;
	long long used_bytes;
	long long used_messages;
};

/*
 * lookup_clnt_create() takes the socket path (copied) and the deadline
 * in milliseconds. lookup_clnt_create_cfg() uses
 * queue_directory/private/proxyd, or "private/proxyd" relative to the
 * current directory when chrooted into the queue directory, and
 * proxyd_timeout. Nothing is connected until the first request.
 */
struct lookup_clnt *lookup_clnt_create(const char *path, int timeout_ms);
struct lookup_clnt *lookup_clnt_create_cfg(const struct config *cfg,
					   bool chrooted);
void lookup_clnt_free(struct lookup_clnt **clntp);

/*
 * lookup_query - look KEY up in TABLE. On LOOKUP_OK, value holds the
 * answer (reset first). On anything else, *error_r (may be NULL) says
 * why, as a borrowed string valid until the next call.
 */
int lookup_query(struct lookup_clnt *clnt, const char *table, const char *key,
		 struct strbuf *value, const char **error_r);

/*
 * lookup_prefetch - send COUNT lookups (at most LOOKUP_PREFETCH_MAX) in
 * one write and read their answers: one round trip instead of COUNT.
 * The answers wait in the client and answer every lookup_query() of
 * the same table and key, as proxyd would have answered it a moment
 * earlier. A caller prefetches what its next lookups will most likely
 * ask, and calls lookup_prefetch_drop() when it has decided, so that a
 * kept answer never reaches a later, unrelated question. A failed
 * prefetch leaves nothing: the lookups then ask proxyd themselves (and
 * see the failure).
 */
#define LOOKUP_PREFETCH_MAX 8

struct lookup_key {
	const char *table;
	const char *key;
};

void lookup_prefetch(struct lookup_clnt *clnt, const struct lookup_key *keys,
		     size_t count);
void lookup_prefetch_drop(struct lookup_clnt *clnt);

/* lookup_auth - LOOKUP_OK: the password is right; LOOKUP_NOKEY: wrong
 * password or unknown/inactive user (one answer for both); else retry. */
int lookup_auth(struct lookup_clnt *clnt, const char *user,
		const char *password, const char **error_r);

/* lookup_quota_update - add bytes and messages (may be negative) to the
 * user's quota2 usage; only the virtual_uid may do this (else DENY). */
int lookup_quota_update(struct lookup_clnt *clnt, const char *user,
			long long bytes, long long messages,
			const char **error_r);

/* lookup_status_name - "ok", "nokey", "retry", "deny", "bad" */
const char *lookup_status_name(int status);

/* lookup_parse_limits - parse a virtual_mailbox_limits value: 0 or -1 */
int lookup_parse_limits(const char *value, struct lookup_limits *limits);

/* lookup_parse_domain_limits - parse a virtual_domain_limits value */
int lookup_parse_domain_limits(const char *value,
			       struct lookup_domain_limits *limits);

#endif
