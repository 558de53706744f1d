/*
 * NAME
 *	proto_anvil.h - the anvil protocol: specs and a blocking client
 * DESCRIPTION
 *	docs/ipc.md ("anvil") and docs/anvil.md are the contract. anvil
 *	counts, per (service, client address), concurrent connections,
 *	connections, AUTH commands and AUTH failures per
 *	anvil_rate_time_unit:
 *
 *	  server hello   protocol=anvil version=1
 *	  connect        service addr [count_limit] [rate_limit]
 *	                 -> status=ok|limit count=N rate=N [limit=count|rate]
 *	  disconnect     service addr        -> status=ok | nokey
 *	  auth           service addr [rate_limit] [failure_limit]
 *	                 -> status=ok|limit rate=N failures=N
 *	                    [limit=auth_rate|auth_failure]
 *	  auth_failure   service addr [failure_limit]
 *	                 -> status=ok|limit failures=N [limit=auth_failure]
 *	  lookup         service addr
 *	                 -> status=ok count rate auth_rate failures | nokey
 *
 *	A limit of 0 (or none) means no limit. Everything a connection
 *	registered with `connect` and did not `disconnect` is disconnected
 *	when that connection closes, so a killed client cannot leave its
 *	count behind.
 *
 *	lookup is for tests and operators (no C client needs it).
 *
 *	The client (anvil_clnt_*) is what smtpd uses: one connection per
 *	SMTP session, opened at the first request and kept until
 *	anvil_clnt_free(). Any trouble talking to anvil is ANVIL_STAT_FAIL
 *	with a reason; the caller then serves the client without limits
 *	(fail open, docs/anvil.md).
 */
#ifndef POSTERN_PROTO_ANVIL_H
#define POSTERN_PROTO_ANVIL_H

#include "sys_defs.h"

#include "attr.h"

#define ANVIL_PROTOCOL "anvil"
#define ANVIL_VERSION 1

#define ANVIL_REQ_CONNECT "connect"
#define ANVIL_REQ_DISCONNECT "disconnect"
#define ANVIL_REQ_AUTH "auth"
#define ANVIL_REQ_AUTH_FAILURE "auth_failure"
#define ANVIL_REQ_LOOKUP "lookup"

#define ANVIL_STATUS_OK "ok"
#define ANVIL_STATUS_LIMIT "limit"
#define ANVIL_STATUS_NOKEY "nokey"
#define ANVIL_STATUS_BAD "bad"

/* Which limit a status=limit reply is about (attribute "limit"). */
#define ANVIL_LIMIT_COUNT "count"
#define ANVIL_LIMIT_RATE "rate"
#define ANVIL_LIMIT_AUTH_RATE "auth_rate"
#define ANVIL_LIMIT_AUTH_FAILURE "auth_failure"

#define ANVIL_SERVICE_MAX 64 /* longest service name */
#define ANVIL_ADDR_MAX 64    /* longest client address */
#define ANVIL_REQUEST_MAX 1024

/* A decoded request (strings borrowed from the attr_msg). Absent
 * limits stay 0: no limit. */
struct anvil_request {
	const char *request;
	const char *service;
	const char *addr;
	long long count_limit;
	long long rate_limit;
	long long failure_limit;
};

/* A decoded reply. Absent numbers stay 0. */
struct anvil_reply {
	const char *status;
	const char *limit;
	long long count;
	long long rate;
	long long auth_rate;
	long long failures;
	const char *reason;
};

extern const struct attr_spec anvil_connect_specs[];
extern const size_t anvil_connect_nspecs;
extern const struct attr_spec anvil_disconnect_specs[];
extern const size_t anvil_disconnect_nspecs;
extern const struct attr_spec anvil_auth_specs[];
extern const size_t anvil_auth_nspecs;
extern const struct attr_spec anvil_auth_failure_specs[];
extern const size_t anvil_auth_failure_nspecs;
extern const struct attr_spec anvil_lookup_specs[];
extern const size_t anvil_lookup_nspecs;
extern const struct attr_spec anvil_reply_specs[];
extern const size_t anvil_reply_nspecs;

/* Client. */
enum anvil_stat {
	ANVIL_STAT_OK = 0,    /* within the limits */
	ANVIL_STAT_LIMIT = 1, /* over a limit: result.limit says which */
	ANVIL_STAT_NOKEY = 2, /* lookup, disconnect: nothing known */
	ANVIL_STAT_FAIL = 3,  /* anvil unreachable or confused: fail open */
};

struct anvil_result {
	enum anvil_stat status;
	char limit[16]; /* ANVIL_LIMIT_*, or "" */
	long long count;
	long long rate;
	long long auth_rate;
	long long failures;
	char reason[256]; /* ANVIL_STAT_FAIL: why, for the log */
};

struct anvil_clnt;

/* anvil_clnt_create - a client of the anvil socket at path; nothing is
 * connected until the first request. */
struct anvil_clnt *anvil_clnt_create(const char *path, int timeout_ms);
enum anvil_stat anvil_clnt_connect(struct anvil_clnt *clnt, const char *service,
				   const char *addr, long long count_limit,
				   long long rate_limit,
				   struct anvil_result *res);
enum anvil_stat anvil_clnt_disconnect(struct anvil_clnt *clnt,
				      const char *service, const char *addr,
				      struct anvil_result *res);
enum anvil_stat anvil_clnt_auth(struct anvil_clnt *clnt, const char *service,
				const char *addr, long long rate_limit,
				long long failure_limit,
				struct anvil_result *res);
enum anvil_stat anvil_clnt_auth_failure(struct anvil_clnt *clnt,
					const char *service, const char *addr,
					long long failure_limit,
					struct anvil_result *res);
/* anvil_clnt_free - close the connection: anvil forgets every connect
 * it registered. */
void anvil_clnt_free(struct anvil_clnt **clntp);

#endif
