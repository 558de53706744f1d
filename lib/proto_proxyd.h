/*
 * NAME
 *	proto_proxyd.h - the proxyd protocol, shared by client and server
 * DESCRIPTION
 *	Requests and replies over private/proxyd in the attribute encoding
 *	of attr.h (docs/proxyd.md):
 *
 *	  hello   protocol=proxyd version=1 (server, on connect)
 *	  lookup  request=lookup table=NAME key=KEY
 *	          -> status=ok value=V | status=nokey|retry|deny|bad
 *	  auth    request=auth user=U password=P
 *	          -> status=ok | nokey (wrong password or unknown user) |
 *	             retry
 *	  quota   request=quota_update user=U bytes=N messages=N
 *	          -> status=ok | nokey (no such mailbox) | retry | deny
 *
 *	Replies may carry reason=TEXT for logs. The spec tables of
 *	proto_proxyd.c are the only definition of each message:
 *	lookup_clnt writes requests with proxyd_request_encode(), proxyd
 *	reads them with proxyd_request_decode() (verb, attributes and
 *	every length limit), and both sides use proxyd_reply_spec.
 */
#ifndef POSTERN_PROTO_PROXYD_H
#define POSTERN_PROTO_PROXYD_H

#include "sys_defs.h"

#include "attr.h"

#define PROXYD_PROTOCOL "proxyd"
#define PROXYD_VERSION 1

#define PROXYD_REQ_LOOKUP "lookup"
#define PROXYD_REQ_AUTH "auth"
#define PROXYD_REQ_QUOTA "quota_update"

#define PROXYD_ATTR_TABLE "table"
#define PROXYD_ATTR_KEY "key"
#define PROXYD_ATTR_USER "user"
#define PROXYD_ATTR_PASSWORD "password"
#define PROXYD_ATTR_BYTES "bytes"
#define PROXYD_ATTR_MESSAGES "messages"
#define PROXYD_ATTR_VALUE "value"

#define PROXYD_TABLE_MAX 64      /* longest table name */
#define PROXYD_KEY_MAX 4096      /* longest key or user name */
#define PROXYD_PASSWORD_MAX 1024 /* longest password */
#define PROXYD_REQUEST_MAX 16384 /* longest encoded request */

/* The kinds of request. */
enum proxyd_kind {
	PROXYD_KIND_LOOKUP,
	PROXYD_KIND_AUTH,
	PROXYD_KIND_QUOTA,
};

/*
 * A request. Decoded, the strings are borrowed from the attr_msg,
 * NUL-terminated without an inner NUL, and within their limits; the
 * fields the kind does not use are NULL or 0:
 *   lookup: table (at most PROXYD_TABLE_MAX), key (PROXYD_KEY_MAX)
 *   auth:   user (PROXYD_KEY_MAX), password (PROXYD_PASSWORD_MAX)
 *   quota:  user (PROXYD_KEY_MAX), bytes, messages (signed deltas)
 */
struct proxyd_request {
	enum proxyd_kind kind;
	const char *request; /* the verb as sent */
	const char *table;
	const char *key;
	const char *user;
	const char *password;
	long long bytes;
	long long messages;
};

/* A decoded reply. */
struct proxyd_reply {
	const char *status;
	const char *value;
	size_t value_len;
	const char *reason;
};

struct strbuf;

void proxyd_request_encode(struct strbuf *out,
			   const struct proxyd_request *req);
int proxyd_request_decode(const struct attr_msg *msg,
			  struct proxyd_request *req, const char **error_r);

extern const struct attr_spec proxyd_reply_spec[];
extern const size_t proxyd_reply_spec_count;

const char *proxyd_status_name(int status);
int proxyd_status_parse(const char *name);

#endif
