/*
 * NAME
 *	qmgr_route - transport and destination of each recipient
 * SYNOPSIS
 *	see qmgr.h
 * DESCRIPTION
 *	A recipient whose domain proxyd finds in virtual_mailbox_domains
 *	goes to the `virtual` transport (private/virtual), destination
 *	the domain; any other goes to `smtp` (private/smtp), destination
 *	relayhost when it is set, else the domain. A lookup that fails
 *	(retry, deny, bad) defers the recipient: never a guess.
 *
 *	Answers are kept for QMGR_ROUTE_TTL seconds (found and not found
 *	alike; lib/lookup_cache.c), so a burst of mail for one domain asks
 *	proxyd once.
 *	The lookup is a blocking call with proxyd_timeout; proxyd answers
 *	from its own cache or one indexed query.
 *
 *	qmgr_route_msg() groups the pending recipients of a message by
 *	destination into jobs of at most DELIVER_RCPT_MAX recipients and
 *	queues them. Destinations are created on first use and carry
 *	their concurrency limit: virtual_destination_concurrency_limit
 *	for local delivery (it only bounds how much of the machine one
 *	domain may take), default_destination_concurrency_limit for the
 *	others (it protects the receiving servers).
 * DIAGNOSTICS
 *	A failed lookup logs one warning and defers.
 * SEE ALSO
 *	lib/lookup_clnt.h, qmgr_deliver.c
 */
#include "sys_defs.h"

#include <ctype.h>

#include "log.h"
#include "lookup_cache.h"
#include "lookup_clnt.h"
#include "params.h"
#include "strbuf.h"
#include "xalloc.h"
#include "qmgr.h"

#define QMGR_ROUTE_TTL 10      /* seconds an answer is reused */
#define QMGR_ROUTE_RETRY_TTL 2 /* seconds a failed lookup is reused */

/* qmgr_route_lookup - is domain local? LOOKUP_OK, _NOKEY or _RETRY */
static int qmgr_route_lookup(struct qmgr *q, const char *domain,
			     const char **error_r)
{
	/* A failure is remembered briefly, so that a stalled proxyd costs
	 * one timeout, not one per message. */
	static struct lookup_cache *cache;
	int r;

	if (cache == NULL)
		cache =
		    lookup_cache_create(QMGR_ROUTE_TTL, QMGR_ROUTE_RETRY_TTL);
	if (q->lookup == NULL)
		q->lookup = lookup_clnt_create_cfg(q->cfg, false);
	r = lookup_cache_query(cache, q->lookup, LOOKUP_TABLE_DOMAINS, domain,
			       error_r);
	return r == LOOKUP_OK || r == LOOKUP_NOKEY ? r : LOOKUP_RETRY;
}

/* qmgr_dest_get - the destination (transport, nexthop), made on demand */
struct qmgr_dest *qmgr_dest_get(struct qmgr *q, const char *transport,
				const char *nexthop)
{
	struct qmgr_dest *d;
	char *name = xasprintf("%s:%s", transport, nexthop);

	for (d = q->dests; d != NULL; d = d->next)
		if (strcmp(d->name, name) == 0) {
			free(name);
			return d;
		}
	d = xcalloc(1, sizeof(*d));
	d->name = name;
	d->transport = xstrdup(transport);
	d->limit =
	    (unsigned)(strcmp(transport, QMGR_TRANSPORT_VIRTUAL) == 0
			   ? q->cfg->virtual_destination_concurrency_limit
			   : q->cfg->default_destination_concurrency_limit);
	d->next = q->dests;
	q->dests = d;
	return d;
}

/* qmgr_route_one - transport and next hop of one recipient; -1 defer */
static int qmgr_route_one(struct qmgr *q, const char *addr,
			  const char **transport_r, struct strbuf *nexthop,
			  const char **error_r)
{
	const char *domain = qmgr_domain_of(addr);
	const char *p;
	int r;

	strbuf_reset(nexthop);
	for (p = domain; *p; p++)
		(void)strbuf_addch(nexthop, tolower((unsigned char)*p));
	if (nexthop->len == 0) {
		*error_r = "recipient address has no domain";
		return -1;
	}
	r = qmgr_route_lookup(q, nexthop->data, error_r);
	if (r == LOOKUP_RETRY)
		return -1;
	if (r == LOOKUP_OK) {
		*transport_r = QMGR_TRANSPORT_VIRTUAL;
		return 0;
	}
	*transport_r = QMGR_TRANSPORT_SMTP;
	if (q->cfg->relayhost != NULL && q->cfg->relayhost[0] != '\0')
		(void)strbuf_copy(nexthop, q->cfg->relayhost);
	return 0;
}

/* qmgr_route_msg - queue jobs for every recipient still to do */
void qmgr_route_msg(struct qmgr *q, struct qmgr_msg *m)
{
	struct strbuf *nexthop = strbuf_alloc(64);
	struct qmgr_dest **dests =
	    xcalloc(m->q.nrcpt ? m->q.nrcpt : 1, sizeof(*dests));
	size_t i, j;

	for (i = 0; i < m->q.nrcpt; i++) {
		const char *transport = NULL, *error = "lookup failed";

		if (m->r[i].state != QMGR_R_TODO)
			continue;
		if (qmgr_route_one(q, m->q.rcpts[i].address, &transport,
				   nexthop, &error) < 0) {
			log_warn("%s: route %s: %s", m->id,
				 log_esc(m->q.rcpts[i].address), error);
			qmgr_log_rcpt(m, i, "none", qmgr_now(), qmgr_now(),
				      qmgr_now(), "4.3.0", "deferred",
				      "domain lookup failed: temporary "
				      "failure");
			qmgr_record(q, m, i, QMGR_R_DEFER, "4.3.0",
				    "domain lookup failed", "none");
			continue;
		}
		dests[i] = qmgr_dest_get(q, transport, nexthop->data);
	}
	strbuf_free(&nexthop);
	/* One job per destination and DELIVER_RCPT_MAX recipients. */
	for (i = 0; i < m->q.nrcpt; i++) {
		struct qmgr_job *job;

		if (dests[i] == NULL || m->r[i].state != QMGR_R_TODO)
			continue;
		job = xcalloc(1, sizeof(*job));
		job->kind = QMGR_JOB_DELIVER;
		job->msg = m;
		job->dest = dests[i];
		job->sock = -1;
		for (j = i; j < m->q.nrcpt && job->n < DELIVER_RCPT_MAX; j++) {
			if (dests[j] != dests[i] ||
			    m->r[j].state != QMGR_R_TODO)
				continue;
			m->r[j].state = QMGR_R_BUSY;
			job->idx[job->n++] = j;
		}
		m->jobs++;
		qmgr_job_enqueue(q, job);
	}
	free(dests);
}
