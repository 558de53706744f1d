/*
 * NAME
 *	smtpd_check - recipient validation, relay control, free space
 * SYNOPSIS
 *	see smtpd.h
 * DESCRIPTION
 *	smtpd_check_rcpt() decides a RCPT TO address:
 *
 *	1. "<postmaster>" without a domain is always accepted (RFC 5321
 *	   4.5.1), and so is postmaster@ any local domain.
 *	2. A domain that virtual_mailbox_domains knows is local. The
 *	   address must be found in virtual_mailbox_maps or
 *	   virtual_alias_maps (proxyd resolves catch-alls, alias domains
 *	   and the recipient_delimiter there); if neither knows it, the
 *	   answer is 550 5.1.1 User unknown in virtual mailbox table.
 *	3. Any other domain (and every address literal) is relayed only
 *	   for clients in mynetworks and clients that authenticated (SMTP
 *	   AUTH): others get 554 5.7.1 Relay access denied.
 *	A lookup that fails (LOOKUP_RETRY, DENY or BAD) gives 451 4.3.0,
 *	never a 5xx. Keys are sent in lower case. The answer of step 2's
 *	domain lookup is reused for SMTPD_DOMAIN_TTL seconds
 *	(lib/lookup_cache.c; failures are not kept), as qmgr does, so a
 *	local recipient costs one round trip to proxyd: the lookups of
 *	step 2 and of the quota check (smtpd_quota.c), prefetched together.
 *
 *	smtpd_check_sender() implements smtpd_sender_login_check (Postfix's
 *	reject_authenticated_sender_login_mismatch): an authenticated
 *	client may use as MAIL FROM only an address whose
 *	smtpd_sender_login_maps entry lists its login (its own mailbox, an
 *	alias that delivers to it); otherwise 553 5.7.1 ... not owned by
 *	user LOGIN. The null sender and unauthenticated clients are not
 *	checked.
 *
 *	smtpd_check_space() implements queue_minfree (Postfix's
 *	smtpd_check_size()): 452 4.3.1 when the queue file system has less
 *	free space than queue_minfree, or not 1.5 times the size the
 *	client announced beyond it. A non-zero queue_minfree below 1.5 x
 *	message_size_limit is raised to that, so one maximal message
 *	always fits.
 *
 *	smtpd_net_match() matches an address against a mynetworks list
 *	("127.0.0.0/8 [::1]/128 192.0.2.7", commas or spaces): 1 match,
 *	0 no match; malformed entries are logged and skipped.
 * DIAGNOSTICS
 *	Lookup failures and malformed mynetworks entries are warnings.
 * SEE ALSO
 *	lib/lookup_clnt.h, docs/proxyd.md
 */
#include "sys_defs.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <sys/statvfs.h>

#include "cfg.h"
#include "log.h"
#include "lookup_cache.h"
#include "lookup_clnt.h"
#include "params.h"
#include "strbuf.h"
#include "xalloc.h"

#include "smtpd.h"

/* smtpd_net_entry - does addr (binary, family) fall in one entry */
static int smtpd_net_entry(const char *entry, int family,
			   const unsigned char *addr)
{
	char buf[INET6_ADDRSTRLEN + 8];
	unsigned char net[16];
	const char *slash;
	size_t n;
	long bits;
	int efamily, maxbits, i;
	char *end;

	if (*entry == '[') {
		const char *close = strchr(entry, ']');

		if (close == NULL)
			return -1;
		n = (size_t)(close - entry - 1);
		slash = close[1] == '/' ? close + 1 : NULL;
		if (close[1] != '\0' && slash == NULL)
			return -1;
		entry++;
	} else {
		slash = strchr(entry, '/');
		n = slash != NULL ? (size_t)(slash - entry) : strlen(entry);
	}
	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, entry, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, net) == 1) {
		efamily = AF_INET;
		maxbits = 32;
	} else if (inet_pton(AF_INET6, buf, net) == 1) {
		efamily = AF_INET6;
		maxbits = 128;
	} else {
		return -1;
	}
	bits = maxbits;
	if (slash != NULL) {
		bits = strtol(slash + 1, &end, 10);
		if (end == slash + 1 || *end != '\0' || bits < 0 ||
		    bits > maxbits)
			return -1;
	}
	if (efamily != family)
		return 0;
	for (i = 0; bits > 0; i++, bits -= 8) {
		unsigned char mask =
		    bits >= 8 ? 0xff : (unsigned char)(0xff << (8 - bits));

		if ((net[i] & mask) != (addr[i] & mask))
			return 0;
	}
	return 1;
}

/* smtpd_net_match - is addr in the list: 1 yes, 0 no */
int smtpd_net_match(const char *list, const char *addr)
{
	unsigned char bin[16];
	int family;
	char **items;
	size_t count, i;
	int found = 0;

	if (inet_pton(AF_INET, addr, bin) == 1)
		family = AF_INET;
	else if (inet_pton(AF_INET6, addr, bin) == 1)
		family = AF_INET6;
	else
		return 0;
	items = cfg_split_list(list, &count);
	for (i = 0; i < count && !found; i++) {
		int r = smtpd_net_entry(items[i], family, bin);

		if (r < 0)
			log_warn("mynetworks: ignoring malformed entry \"%s\"",
				 items[i]);
		else
			found = r;
	}
	cfg_free_list(&items);
	return found;
}

/*
 * smtpd_lookup_clnt - the process's proxyd client, made on first use and
 * kept for every later session: a connection (and proxyd's hello) per
 * SMTP session was three system calls and a round trip per message
 */
struct lookup_clnt *smtpd_lookup_clnt(const struct smtpd_session *s)
{
	static struct lookup_clnt *clnt;

	if (clnt == NULL)
		clnt = lookup_clnt_create_cfg(s->cfg, s->chrooted);
	return clnt;
}

/* smtpd_lookup_result - OK and NOKEY as they are, any failure logged
 * and made LOOKUP_RETRY */
static int smtpd_lookup_result(const char *table, int r, const char *err)
{
	if (r != LOOKUP_OK && r != LOOKUP_NOKEY) {
		log_warn("%s lookup: %s", table,
			 err != NULL ? err : lookup_status_name(r));
		return LOOKUP_RETRY;
	}
	return r;
}

/* smtpd_lookup_value - one proxyd query; value filled on LOOKUP_OK */
static int smtpd_lookup_value(struct smtpd_session *s, const char *table,
			      const char *key, struct strbuf *value)
{
	const char *err = NULL;
	int r;

	r = lookup_query(smtpd_lookup_clnt(s), table, key, value, &err);
	return smtpd_lookup_result(table, r, err);
}

/* Seconds a domain lookup's answer is reused (qmgr: the same). */
#define SMTPD_DOMAIN_TTL 10

/* smtpd_lookup_domain - is domain local: LOOKUP_OK, _NOKEY or _RETRY */
static int smtpd_lookup_domain(struct smtpd_session *s, const char *domain)
{
	static struct lookup_cache *cache;
	const char *err = NULL;
	int r;

	if (cache == NULL)
		cache = lookup_cache_create(SMTPD_DOMAIN_TTL, 0);
	r = lookup_cache_query(cache, smtpd_lookup_clnt(s),
			       LOOKUP_TABLE_DOMAINS, domain, &err);
	return smtpd_lookup_result(LOOKUP_TABLE_DOMAINS, r, err);
}

/* smtpd_lookup - one proxyd query whose value does not matter */
static int smtpd_lookup(struct smtpd_session *s, const char *table,
			const char *key)
{
	struct strbuf value;
	int r;

	strbuf_init(&value, 64);
	r = smtpd_lookup_value(s, table, key, &value);
	strbuf_release(&value);
	return r;
}

/* smtpd_lower - ASCII lower case copy */
static char *smtpd_lower(const char *s, size_t len)
{
	char *copy = xstrndup(s, len);
	char *p;

	for (p = copy; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return copy;
}

/* smtpd_check_user - a local address: a mailbox or an alias (proxyd
 * also tries the address without its recipient_delimiter extension) */
static int smtpd_check_user(struct smtpd_session *s, const char *key)
{
	int r;

	r = smtpd_lookup(s, LOOKUP_TABLE_MAILBOXES, key);
	if (r == LOOKUP_NOKEY)
		r = smtpd_lookup(s, LOOKUP_TABLE_ALIASES, key);
	return r;
}

/* smtpd_prefetch_rcpt - ask proxyd in one round trip what checking a
 * local recipient most likely asks: its mailbox, its alias entry, and
 * (for a mailbox, which is its own single alias target) the mailbox's
 * and the domain's limits */
static void smtpd_prefetch_rcpt(struct smtpd_session *s, const char *key,
				const char *domain)
{
	const struct lookup_key keys[] = {
	    {LOOKUP_TABLE_MAILBOXES, key},
	    {LOOKUP_TABLE_ALIASES, key},
	    {LOOKUP_TABLE_LIMITS, key},
	    {LOOKUP_TABLE_DOMAIN_LIMITS, domain},
	};

	lookup_prefetch(smtpd_lookup_clnt(s), keys, ARRAY_LEN(keys));
}

/* smtpd_check_rcpt - may this recipient be accepted; see above */
int smtpd_check_rcpt(struct smtpd_session *s, const struct smtpd_addr *rcpt,
		     struct strbuf *reply)
{
	const char *addr = rcpt->addr.data;
	struct strbuf ext;
	char *key, *domain;
	int r, status = 0;

	if (rcpt->at >= rcpt->addr.len)
		return 0; /* bare <postmaster> */
	strbuf_init(&ext, 64);
	smtpd_addr_quote(addr, &ext);
	key = smtpd_lower(addr, rcpt->addr.len);
	domain = key + rcpt->at + 1;
	r = rcpt->literal ? LOOKUP_NOKEY : smtpd_lookup_domain(s, domain);
	if (r == LOOKUP_OK) {
		if (rcpt->at == 10 && strncmp(key, "postmaster", 10) == 0) {
			r = LOOKUP_OK;
		} else {
			smtpd_prefetch_rcpt(s, key, domain);
			if ((r = smtpd_check_user(s, key)) == LOOKUP_OK)
				status =
				    smtpd_check_quota(s, key, ext.data, reply);
			lookup_prefetch_drop(smtpd_lookup_clnt(s));
		}
		if (r == LOOKUP_NOKEY) {
			(void)strbuf_printf(reply,
					    "550 5.1.1 <%s>: Recipient address "
					    "rejected: User unknown in virtual "
					    "mailbox table",
					    ext.data);
			status = -1;
		}
	} else if (r == LOOKUP_NOKEY) {
		if (!s->client_trusted && s->sasl_username == NULL) {
			(void)strbuf_printf(reply,
					    "554 5.7.1 <%s>: Relay access "
					    "denied",
					    ext.data);
			status = -1;
		}
		r = LOOKUP_OK;
	}
	if (r == LOOKUP_RETRY) {
		(void)strbuf_printf(reply,
				    "451 4.3.0 <%s>: Temporary lookup failure",
				    ext.data);
		status = -1;
	}
	free(key);
	strbuf_release(&ext);
	return status;
}

/* smtpd_login_listed - is login one of the comma/space list's items */
static bool smtpd_login_listed(const char *list, const char *login)
{
	char **items;
	size_t count, i;
	bool found = false;

	items = cfg_split_list(list, &count);
	for (i = 0; i < count && !found; i++)
		found = strcasecmp(items[i], login) == 0;
	cfg_free_list(&items);
	return found;
}

/* smtpd_check_sender - smtpd_sender_login_check at MAIL FROM; see above */
int smtpd_check_sender(struct smtpd_session *s, const struct smtpd_addr *sender,
		       struct strbuf *reply)
{
	struct strbuf value, ext;
	char *key;
	int r, status = 0;

	if (!s->cfg->smtpd_sender_login_check || s->sasl_username == NULL ||
	    sender->addr.len == 0)
		return 0;
	strbuf_init(&value, 64);
	strbuf_init(&ext, 64);
	key = smtpd_lower(sender->addr.data, sender->addr.len);
	r = smtpd_lookup_value(s, LOOKUP_TABLE_SENDER_LOGINS, key, &value);
	smtpd_addr_quote(sender->addr.data, &ext);
	if (r == LOOKUP_RETRY) {
		(void)strbuf_printf(reply,
				    "451 4.3.0 <%s>: Temporary lookup failure",
				    ext.data);
		status = -1;
	} else if (r == LOOKUP_NOKEY ||
		   !smtpd_login_listed(value.data, s->sasl_username)) {
		(void)strbuf_printf(reply,
				    "553 5.7.1 <%s>: Sender address rejected: "
				    "not owned by user %s",
				    ext.data, s->sasl_username);
		status = -1;
	}
	free(key);
	strbuf_release(&value);
	strbuf_release(&ext);
	return status;
}

/* smtpd_check_space - queue_minfree at MAIL FROM; see above */
int smtpd_check_space(struct smtpd_session *s, unsigned long long size,
		      struct strbuf *reply)
{
	static bool warned;
	const char *dir = s->chrooted ? "." : s->cfg->queue_directory;
	unsigned long long avail, minfree, limit;
	struct statvfs vfs;

	minfree = (unsigned long long)s->cfg->queue_minfree;
	limit = (unsigned long long)s->cfg->message_size_limit;
	if (minfree > 0 && limit > 0 && minfree < limit + limit / 2) {
		if (!warned)
			log_warn("queue_minfree (%llu) is less than 1.5 x "
				 "message_size_limit: using %llu",
				 minfree, limit + limit / 2);
		warned = true;
		minfree = limit + limit / 2;
	}
	if (minfree == 0 && size == 0)
		return 0;
	if (statvfs(dir, &vfs) < 0) {
		log_warn("statvfs %s: %m", dir);
		return 0;
	}
	avail = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
	if (avail < minfree || (size > 0 && (avail - minfree) / 3 * 2 < size)) {
		log_warn("not enough free space in mail queue: %llu bytes "
			 "free, %llu required%s",
			 avail, minfree, size > 0 ? " plus 1.5 x SIZE" : "");
		(void)strbuf_printf(reply,
				    "452 4.3.1 Insufficient system storage");
		return -1;
	}
	return 0;
}
