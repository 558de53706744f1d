/*
 * NAME
 *	smtp_connect - find the next hop of a message and connect to it
 * SYNOPSIS
 *	see smtp.h
 * DESCRIPTION
 *	The next hop is `relayhost` when it is set, else the recipient
 *	domain. Its forms follow Postfix: "[host]:port" or "[host]"
 *	means that host's address records, without an MX lookup (a
 *	numeric address in brackets needs no DNS at all); "host:port" or
 *	"host" means the MX records of host (RFC 5321 section 5.1), in
 *	order of preference, falling back to the host's own address
 *	records when it has no MX record. The default port is 25.
 *
 *	smtp_deliver_msg() tries the servers in order: a failed connect,
 *	a lost conversation or a 4xx greeting moves on to the next server
 *	for the recipients still deferred; any other answer is final for
 *	this attempt. Every connect has smtp_connect_timeout.
 *
 *	The MX lookup uses res_query(3) and parses the answer section
 *	itself (smtp_mx_parse(), fuzzable), so the program needs nothing
 *	from libresolv beyond what glibc has in libc.
 * DIAGNOSTICS
 *	Connection failures become the recipients' defer reasons
 *	("connect to host[addr]:port: Connection refused").
 * SEE ALSO
 *	RFC 5321 section 5, smtp_proto.c
 */
#include "sys_defs.h"

#include <errno.h>
#include <netdb.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <resolv.h>

#include "ipc.h"
#include "log.h"
#include "params.h"
#include "strbuf.h"
#include "xalloc.h"
#include "smtp.h"

#define SMTP_MAX_MX 10    /* servers tried per attempt */
#define SMTP_MAX_ADDRS 20 /* addresses tried per attempt */

/* smtp_parse_nexthop - "[host]:port", "[host]", "host:port" or "host" */
int smtp_parse_nexthop(const char *spec, struct smtp_nexthop *hop,
		       const char **error_r)
{
	const char *end, *colon;
	long long port = 25;

	memset(hop, 0, sizeof(*hop));
	if (spec[0] == '[') {
		end = strchr(spec, ']');
		if (end == NULL || end == spec + 1) {
			*error_r = "malformed [host]";
			return -1;
		}
		hop->host = xstrndup(spec + 1, (size_t)(end - spec - 1));
		hop->no_mx = true;
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] != '\0' && colon == NULL) {
			*error_r = "garbage after [host]";
			goto fail;
		}
	} else {
		colon = strrchr(spec, ':');
		if (colon != NULL && strchr(spec, ':') != colon) {
			*error_r = "IPv6 address without brackets";
			return -1;
		}
		hop->host = colon ? xstrndup(spec, (size_t)(colon - spec))
				  : xstrdup(spec);
	}
	if (hop->host[0] == '\0') {
		*error_r = "empty host";
		goto fail;
	}
	if (colon != NULL) {
		char *e;

		errno = 0;
		port = strtoll(colon + 1, &e, 10);
		if (errno != 0 || e == colon + 1 || *e != '\0' || port < 1 ||
		    port > 65535) {
			*error_r = "bad port";
			goto fail;
		}
	}
	hop->port = (unsigned)port;
	return 0;
fail:
	free(hop->host);
	hop->host = NULL;
	return -1;
}

/* smtp_nexthop_release - free what smtp_parse_nexthop() allocated */
void smtp_nexthop_release(struct smtp_nexthop *hop)
{
	free(hop->host);
	hop->host = NULL;
}

/* smtp_mx_parse - MX targets of a DNS answer, sorted by preference */
int smtp_mx_parse(const unsigned char *answer, int len, char ***hosts_r,
		  size_t *count_r)
{
	const unsigned char *p, *end = answer + len;
	char name[NS_MAXDNAME];
	unsigned qdcount, ancount, i;
	int prefs[SMTP_MAX_MX];
	char **hosts = NULL;
	size_t n = 0;
	int k;

	*hosts_r = NULL;
	*count_r = 0;
	if (len < NS_HFIXEDSZ)
		return -1;
	qdcount = (unsigned)(answer[4] << 8 | answer[5]);
	ancount = (unsigned)(answer[6] << 8 | answer[7]);
	p = answer + NS_HFIXEDSZ;
	for (i = 0; i < qdcount; i++) {
		k = dn_expand(answer, end, p, name, sizeof(name));
		if (k < 0 || p + k + NS_QFIXEDSZ > end)
			return -1;
		p += k + NS_QFIXEDSZ;
	}
	for (i = 0; i < ancount && n < SMTP_MAX_MX; i++) {
		unsigned type, rdlen, pref;
		size_t j;

		k = dn_expand(answer, end, p, name, sizeof(name));
		if (k < 0 || p + k + NS_RRFIXEDSZ > end)
			goto bad;
		p += k;
		type = (unsigned)(p[0] << 8 | p[1]);
		rdlen = (unsigned)(p[8] << 8 | p[9]);
		p += NS_RRFIXEDSZ;
		if (p + rdlen > end)
			goto bad;
		if (type != ns_t_mx || rdlen < 3) {
			p += rdlen;
			continue;
		}
		pref = (unsigned)(p[0] << 8 | p[1]);
		k = dn_expand(answer, end, p + 2, name, sizeof(name));
		if (k < 0 || (unsigned)k + 2 > rdlen)
			goto bad;
		p += rdlen;
		/* insertion by preference, stable for equal values */
		hosts = xreallocarray(hosts, n + 1, sizeof(*hosts));
		for (j = n; j > 0 && prefs[j - 1] > (int)pref; j--) {
			hosts[j] = hosts[j - 1];
			prefs[j] = prefs[j - 1];
		}
		hosts[j] = xstrdup(name);
		prefs[j] = (int)pref;
		n++;
	}
	*hosts_r = hosts;
	*count_r = n;
	return 0;
bad:
	while (n > 0)
		free(hosts[--n]);
	free(hosts);
	return -1;
}

struct smtp_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	char *host; /* owned */
};

/* smtp_resolve_host - append the addresses of one host */
static void smtp_resolve_host(const char *host, unsigned port,
			      struct smtp_addr *addrs, size_t *n,
			      struct strbuf *why)
{
	struct addrinfo hints, *res = NULL, *ai;
	char portstr[8];
	int r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	(void)snprintf(portstr, sizeof(portstr), "%u", port);
	r = getaddrinfo(host, portstr, &hints, &res);
	if (r != 0) {
		(void)strbuf_printf(why,
				    "Host or domain name not found. "
				    "Name service error for name=%s: %s",
				    host, gai_strerror(r));
		return;
	}
	for (ai = res; ai != NULL && *n < SMTP_MAX_ADDRS; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof(addrs[*n].ss))
			continue;
		memcpy(&addrs[*n].ss, ai->ai_addr, ai->ai_addrlen);
		addrs[*n].len = ai->ai_addrlen;
		addrs[*n].host = xstrdup(host);
		(*n)++;
	}
	freeaddrinfo(res);
}

/* smtp_resolve - the addresses to try for a next hop */
static size_t smtp_resolve(const struct smtp_nexthop *hop,
			   struct smtp_addr *addrs, struct strbuf *why)
{
	size_t n = 0, nmx = 0, i;
	char **mx = NULL;

	if (!hop->no_mx) {
		unsigned char answer[NS_PACKETSZ * 8];
		int len = res_query(hop->host, ns_c_in, ns_t_mx, answer,
				    sizeof(answer));

		if (len > 0 && smtp_mx_parse(answer, len, &mx, &nmx) < 0)
			nmx = 0;
	}
	if (nmx == 0) {
		smtp_resolve_host(hop->host, hop->port, addrs, &n, why);
	} else {
		for (i = 0; i < nmx; i++)
			smtp_resolve_host(mx[i], hop->port, addrs, &n, why);
	}
	for (i = 0; i < nmx; i++)
		free(mx[i]);
	free(mx);
	return n;
}

/*
 * smtp_deliver_msg - send msg to the servers of nexthop_spec. Every
 * recipient has an outcome afterwards; relay_r names the last server
 * spoken to (or the next hop when none answered). Returns 0.
 */
int smtp_deliver_msg(const struct config *cfg, SSL_CTX *ssl_ctx,
		     const char *nexthop_spec, struct smtp_msg *msg,
		     struct strbuf *relay_r)
{
	struct smtp_addr addrs[SMTP_MAX_ADDRS];
	struct smtp_nexthop hop;
	struct strbuf *why = strbuf_alloc(128);
	const char *error;
	size_t naddr, i, r, attempts = 0;
	bool tried_plain = false;

	(void)strbuf_copy(relay_r, "none");
	if (smtp_parse_nexthop(nexthop_spec, &hop, &error) < 0) {
		smtp_msg_fail_all(msg, SMTP_DEFER, "4.3.5",
				  "bad next hop \"%s\": %s", nexthop_spec,
				  error);
		strbuf_free(&why);
		return 0;
	}
	naddr = smtp_resolve(&hop, addrs, why);
	if (naddr == 0) {
		smtp_msg_fail_all(msg, SMTP_DEFER, "4.4.3", "%s",
				  why->len ? why->data
					   : "no address for the next hop");
		goto out;
	}
	for (i = 0; i < naddr; i++) {
		struct smtp_sess *s;
		char addr[64];
		unsigned port;
		bool retry_plain;
		int fd;

		ipc_format_addr((struct sockaddr *)&addrs[i].ss, addr,
				sizeof(addr), &port);
		/* A new attempt: it may accept what the last one deferred. */
		for (r = 0; r < msg->nrcpt && attempts > 0; r++)
			if (msg->rcpt[r].outcome == SMTP_DEFER)
				msg->rcpt[r].outcome = SMTP_PENDING;
		attempts++;
		fd = ipc_connect_inet((struct sockaddr *)&addrs[i].ss,
				      addrs[i].len,
				      (int)cfg->smtp_connect_timeout * 1000);
		(void)strbuf_printf(relay_r, "%s[%s]:%u", addrs[i].host, addr,
				    port);
		if (fd < 0) {
			smtp_msg_fail_all(msg, SMTP_DEFER, "4.4.1",
					  "connect to %s: %m", relay_r->data);
			continue;
		}
		s = smtp_sess_create(fd, addrs[i].host, addr, port);
		s->ssl_ctx = ssl_ctx;
		s->tls_level =
		    tried_plain
			? SMTP_TLS_NONE
			: smtp_tls_level_parse(cfg->smtp_tls_security_level);
		if (cfg->myhostname != NULL && cfg->myhostname[0] != '\0')
			s->helo_name = cfg->myhostname;
		s->tmo.connect = (int)cfg->smtp_connect_timeout;
		s->tmo.helo = (int)cfg->smtp_helo_timeout;
		s->tmo.data = (int)cfg->smtp_data_timeout;
		if (smtp_transaction(s, msg) == 0) {
			smtp_tls_shutdown(s);
			smtp_sess_free(&s);
			break;
		}
		retry_plain = s->tls_failed && s->tls_level == SMTP_TLS_MAY;
		smtp_sess_free(&s);
		if (retry_plain && !tried_plain) {
			/* Opportunistic TLS failed: once more in plain text. */
			tried_plain = true;
			i--;
			continue;
		}
		for (r = 0; r < msg->nrcpt; r++)
			if (msg->rcpt[r].outcome == SMTP_DEFER)
				break;
		if (r == msg->nrcpt)
			break;
	}
out:
	for (i = 0; i < naddr; i++)
		free(addrs[i].host);
	smtp_nexthop_release(&hop);
	strbuf_free(&why);
	return 0;
}
