/*
 * NAME
 *	smtpd_quota - mailbox and domain quota at RCPT time
 * SYNOPSIS
 *	see smtpd.h
 * DESCRIPTION
 *	smtpd_check_quota() runs for a local recipient that
 *	smtpd_check_rcpt() has already found, so a full mailbox is
 *	refused while the client still holds the message (no
 *	backscatter; DESIGN.md section 7, docs/quota.md):
 *
 *	1. The address is resolved one step through virtual_alias_maps
 *	   (a mailbox maps to itself; an alias, catch-all or alias domain
 *	   to its targets). Only a recipient that ends in exactly one
 *	   target is checked, against that target: an alias with several
 *	   targets is not refused because one of them is full (that copy
 *	   is deferred at delivery), as Postfix does for every alias.
 *	2. virtual_mailbox_limits of the target: "not found" means it is
 *	   no local mailbox (a remote forward, a nested alias): accepted.
 *	   Otherwise the recipient is refused when its usage (quota2) has
 *	   reached the byte or message limit, or cannot take the SIZE=
 *	   the client declared at MAIL FROM.
 *	3. virtual_domain_limits of the target's domain: the same test
 *	   against the domain's total quota and the usage of all its
 *	   mailboxes. A proxyd.conf without this table (deny) has no
 *	   domain totals.
 *
 *	  mailbox full           452 4.2.2 <rcpt>: Mailbox full
 *	  domain total reached   452 4.2.2 <rcpt>: Domain quota exceeded
 *	  a lookup failure       451 4.3.0 <rcpt>: Temporary lookup failure
 *
 *	A limit of 0 is unlimited. The usage is the quota2 mirror, which
 *	the delivery agent (and Dovecot's quota_clone) keep; the delivery
 *	agent still checks maildirsize itself, so this check only has to
 *	be right most of the time, never exact.
 *
 *	smtpd_quota_full() is the pure decision, for tests.
 * DIAGNOSTICS
 *	Lookup failures and malformed limits are warnings.
 * SEE ALSO
 *	smtpd_check.c, lib/lookup_clnt.h, docs/quota.md
 */
#include "sys_defs.h"

#include <ctype.h>
#include <limits.h>

#include "log.h"
#include "lookup_clnt.h"
#include "strbuf.h"

#include "smtpd.h"

/* smtpd_quota_full - would usage plus size pass the limit (0: none)? */
bool smtpd_quota_full(long long limit, long long used, long long size)
{
	if (limit <= 0)
		return false;
	return used >= limit || size > limit - used;
}

/* smtpd_quota_lookup - one proxyd query with its value: LOOKUP_OK,
 * NOKEY or RETRY; an optional table that proxyd.conf lacks is NOKEY */
static int smtpd_quota_lookup(struct smtpd_session *s, const char *table,
			      const char *key, struct strbuf *value,
			      bool optional)
{
	const char *err = NULL;
	int r;

	r = lookup_query(smtpd_lookup_clnt(s), table, key, value, &err);
	if (r == LOOKUP_DENY && optional)
		return LOOKUP_NOKEY;
	if (r != LOOKUP_OK && r != LOOKUP_NOKEY) {
		log_warn("%s lookup: %s", table,
			 err != NULL ? err : lookup_status_name(r));
		return LOOKUP_RETRY;
	}
	return r;
}

/* smtpd_quota_target - the single target of key, lowercased, in target:
 * LOOKUP_OK; NOKEY when there is none or several; RETRY */
static int smtpd_quota_target(struct smtpd_session *s, const char *key,
			      struct strbuf *target)
{
	char *p;
	int r;

	r = smtpd_quota_lookup(s, LOOKUP_TABLE_ALIASES, key, target, false);
	if (r != LOOKUP_OK)
		return r;
	if (strchr(target->data, ',') != NULL ||
	    strchr(target->data, '@') == NULL)
		return LOOKUP_NOKEY;
	for (p = target->data; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return LOOKUP_OK;
}

/* smtpd_check_quota - see above: 0 accept, -1 reply filled */
int smtpd_check_quota(struct smtpd_session *s, const char *key,
		      const char *rcpt, struct strbuf *reply)
{
	long long size = s->declared_size > (unsigned long long)LLONG_MAX
			     ? LLONG_MAX
			     : (long long)s->declared_size;
	struct lookup_domain_limits dom;
	struct lookup_limits lim;
	struct strbuf target, value;
	int r, status = 0;

	strbuf_init(&target, 64);
	strbuf_init(&value, 64);
	r = smtpd_quota_target(s, key, &target);
	if (r == LOOKUP_OK)
		r = smtpd_quota_lookup(s, LOOKUP_TABLE_LIMITS, target.data,
				       &value, false);
	if (r == LOOKUP_OK && lookup_parse_limits(value.data, &lim) < 0) {
		log_warn("%s lookup: malformed value for %s",
			 LOOKUP_TABLE_LIMITS, target.data);
		r = LOOKUP_RETRY;
	}
	if (r == LOOKUP_OK) {
		if (smtpd_quota_full(lim.quota_bytes, lim.used_bytes, size) ||
		    smtpd_quota_full(lim.quota_messages, lim.used_messages,
				     1)) {
			strbuf_printf(reply, "452 4.2.2 <%s>: Mailbox full",
				      rcpt);
			status = -1;
			goto out;
		}
		r = smtpd_quota_lookup(s, LOOKUP_TABLE_DOMAIN_LIMITS,
				       strrchr(target.data, '@') + 1, &value,
				       true);
		if (r == LOOKUP_OK &&
		    lookup_parse_domain_limits(value.data, &dom) < 0) {
			log_warn("%s lookup: malformed value for %s",
				 LOOKUP_TABLE_DOMAIN_LIMITS, target.data);
			r = LOOKUP_RETRY;
		}
		if (r == LOOKUP_OK &&
		    smtpd_quota_full(dom.quota_bytes, dom.used_bytes, size)) {
			strbuf_printf(reply,
				      "452 4.2.2 <%s>: Domain quota exceeded",
				      rcpt);
			status = -1;
			goto out;
		}
	}
	if (r != LOOKUP_OK && r != LOOKUP_NOKEY) {
		strbuf_printf(reply, "451 4.3.0 <%s>: Temporary lookup failure",
			      rcpt);
		status = -1;
	}
out:
	strbuf_release(&target);
	strbuf_release(&value);
	return status;
}
