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
 *	Replies may carry reason=TEXT for logs. The spec tables below are
 *	the only definition of each message; proxyd and lookup_clnt both
 *	decode with attr_scan().
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

/* A decoded request (strings borrowed from the attr_msg). */
struct proxyd_request {
	const char *request;
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

extern const struct attr_spec proxyd_lookup_spec[];
extern const size_t proxyd_lookup_spec_count;
extern const struct attr_spec proxyd_auth_spec[];
extern const size_t proxyd_auth_spec_count;
extern const struct attr_spec proxyd_quota_spec[];
extern const size_t proxyd_quota_spec_count;
extern const struct attr_spec proxyd_reply_spec[];
extern const size_t proxyd_reply_spec_count;

const char *proxyd_status_name(int status);
int proxyd_status_parse(const char *name);

#endif
