/*
 * NAME
 *	smtpd_anvil - per-client connection and AUTH limits through anvil
 * SYNOPSIS
 *	see smtpd.h
 * DESCRIPTION
 *	smtpd_anvil_connect() runs before the banner (and before the
 *	handshake of an implicit-TLS service). Unless the client is
 *	in smtpd_client_event_limit_exceptions (default $mynetworks) or
 *	both connection limits are 0, it opens the session's connection to
 *	anvil (private/anvil, relative to the chroot when chrooted), sends
 *	`connect` with this service's smtpd_client_connection_count_limit
 *	and smtpd_client_connection_rate_limit, and on status=limit logs
 *	the Postfix warning
 *
 *	  Connection concurrency limit exceeded: N from NAME[ADDR] for
 *	      service SERVICE
 *	  Connection rate limit exceeded: N from NAME[ADDR] for service
 *	      SERVICE
 *
 *	and ends the session with 421 4.7.0 HOSTNAME Error: too many
 *	connections from ADDR.
 *
 *	smtpd_anvil_auth() counts an AUTH command
 *	(smtpd_client_auth_rate_limit: "AUTH command rate limit exceeded",
 *	421) and refuses AUTH to a client that has already failed
 *	smtpd_client_auth_failure_limit times in this time unit;
 *	smtpd_anvil_auth_failure() counts a failed AUTH and ends the
 *	session with 421 when that brings the client to the limit. The
 *	failures are counted by anvil per address, so they add up across
 *	sessions.
 *
 *	The anvil connection stays open for the whole session:
 *	smtpd_anvil_done() disconnects, and if smtpd dies first, anvil sees
 *	the socket close and disconnects it all the same.
 *
 *	Fail open: when anvil cannot be reached or answers nonsense, smtpd
 *	logs a warning and serves the client without limits, as Postfix
 *	does. A counter must not become a way to stop all mail.
 * DIAGNOSTICS
 *	The warnings above; "anvil ...: ...; no connection limits for
 *	NAME[ADDR]" when anvil fails.
 * SEE ALSO
 *	docs/anvil.md, lib/proto_anvil.h
 */
#include "sys_defs.h"

#include "log.h"
#include "params.h"
#include "proto_anvil.h"
#include "xalloc.h"

#include "smtpd.h"

/* smtpd_anvil_open - the session's anvil client, made on first use */
static struct anvil_clnt *smtpd_anvil_open(struct smtpd_session *s)
{
	char *path;

	if (s->anvil != NULL)
		return s->anvil;
	if (s->chrooted)
		path = xstrdup("private/anvil");
	else
		path = xasprintf("%s/private/anvil", s->cfg->queue_directory);
	s->anvil = anvil_clnt_create(path, SMTPD_ANVIL_TIMEOUT_MS);
	free(path);
	return s->anvil;
}

/* smtpd_anvil_failed - anvil is not answering: say so, serve anyway */
static void smtpd_anvil_failed(struct smtpd_session *s,
			       const struct anvil_result *res)
{
	log_warn("%s; no connection limits for %s", res->reason,
		 smtpd_client(s));
}

/* smtpd_anvil_close - a limit was hit: 421 and end the session */
static int smtpd_anvil_close(struct smtpd_session *s, const char *what)
{
	smtpd_io_reply(&s->io, "421 4.7.0 %s Error: too many %s from %s",
		       s->cfg->myhostname, what, s->client_addr);
	s->state = SMTPD_STATE_QUIT;
	return -1;
}

/* smtpd_anvil_connect - count the connection before the banner */
int smtpd_anvil_connect(struct smtpd_session *s)
{
	const struct config *cfg = s->cfg;
	struct anvil_result res;
	bool rate;

	if (s->limits_exempt ||
	    (cfg->smtpd_client_connection_count_limit == 0 &&
	     cfg->smtpd_client_connection_rate_limit == 0))
		return 0;
	switch (
	    anvil_clnt_connect(smtpd_anvil_open(s), s->service, s->client_addr,
			       cfg->smtpd_client_connection_count_limit,
			       cfg->smtpd_client_connection_rate_limit, &res)) {
	case ANVIL_STAT_OK:
		s->anvil_connected = true;
		return 0;
	case ANVIL_STAT_LIMIT:
		s->anvil_connected = true;
		break;
	default:
		smtpd_anvil_failed(s, &res);
		return 0;
	}
	rate = strcmp(res.limit, ANVIL_LIMIT_RATE) == 0;
	log_warn("Connection %s limit exceeded: %lld from %s for service %s",
		 rate ? "rate" : "concurrency", rate ? res.rate : res.count,
		 smtpd_client(s), s->service);
	return smtpd_anvil_close(s, "connections");
}

/* smtpd_anvil_auth_limit - log the AUTH failure limit, 421 */
static int smtpd_anvil_auth_limit(struct smtpd_session *s,
				  const struct anvil_result *res)
{
	log_warn("AUTH failure limit exceeded: %lld from %s for service %s",
		 res->failures, smtpd_client(s), s->service);
	return smtpd_anvil_close(s, "failed authentication attempts");
}

/* smtpd_anvil_auth - count an AUTH command; -1: 421 queued, session over */
int smtpd_anvil_auth(struct smtpd_session *s)
{
	const struct config *cfg = s->cfg;
	struct anvil_result res;

	if (s->limits_exempt || (cfg->smtpd_client_auth_rate_limit == 0 &&
				 cfg->smtpd_client_auth_failure_limit == 0))
		return 0;
	switch (anvil_clnt_auth(smtpd_anvil_open(s), s->service, s->client_addr,
				cfg->smtpd_client_auth_rate_limit,
				cfg->smtpd_client_auth_failure_limit, &res)) {
	case ANVIL_STAT_LIMIT:
		break;
	case ANVIL_STAT_FAIL:
		smtpd_anvil_failed(s, &res);
		return 0;
	default:
		return 0;
	}
	if (strcmp(res.limit, ANVIL_LIMIT_AUTH_FAILURE) == 0)
		return smtpd_anvil_auth_limit(s, &res);
	log_warn(
	    "AUTH command rate limit exceeded: %lld from %s for service %s",
	    res.auth_rate, smtpd_client(s), s->service);
	return smtpd_anvil_close(s, "AUTH commands");
}

/* smtpd_anvil_auth_failure - count a failed AUTH; -1: 421, session over */
int smtpd_anvil_auth_failure(struct smtpd_session *s)
{
	struct anvil_result res;

	if (s->limits_exempt || s->cfg->smtpd_client_auth_failure_limit == 0)
		return 0;
	switch (anvil_clnt_auth_failure(
	    smtpd_anvil_open(s), s->service, s->client_addr,
	    s->cfg->smtpd_client_auth_failure_limit, &res)) {
	case ANVIL_STAT_LIMIT:
		return smtpd_anvil_auth_limit(s, &res);
	case ANVIL_STAT_FAIL:
		smtpd_anvil_failed(s, &res);
		return 0;
	default:
		return 0;
	}
}

/* smtpd_anvil_done - the session is over: disconnect, close */
void smtpd_anvil_done(struct smtpd_session *s)
{
	struct anvil_result res;

	if (s->anvil == NULL)
		return;
	if (s->anvil_connected)
		(void)anvil_clnt_disconnect(s->anvil, s->service,
					    s->client_addr, &res);
	anvil_clnt_free(&s->anvil);
}
