/*
 * NAME
 *	proto_proxyd - the proxyd request and reply specs
 * SYNOPSIS
 *	see proto_proxyd.h
 * DESCRIPTION
 *	Each message of the proxyd protocol is described once here, as an
 *	attr_spec table: proxyd_request_encode() writes a request from it
 *	(lookup_clnt), proxyd_request_decode() reads one back (proxyd):
 *	the verb picks the table, attr_scan() maps the attributes, then
 *	every string is checked against its limit. The reply spec serves
 *	both sides; the LOOKUP_* codes map to the status words on the wire.
 * DIAGNOSTICS
 *	proxyd_request_decode() returns -1 with a short reason for a
 *	missing or unknown verb, a missing, duplicate, unknown or
 *	malformed attribute, or a string over its limit.
 *	proxyd_status_parse() returns -1 for an unknown word.
 * SEE ALSO
 *	docs/proxyd.md, docs/ipc.md, lookup_clnt.h
 */
#include "sys_defs.h"

#include "lookup_clnt.h"
#include "proto_proxyd.h"
#include "strbuf.h"

#define REQ_FIELD(f) offsetof(struct proxyd_request, f)
#define REP_FIELD(f) offsetof(struct proxyd_reply, f)

static const struct attr_spec proxyd_lookup_spec[] = {
    {ATTR_REQUEST, ATTR_TYPE_STR, REQ_FIELD(request), 0, true},
    {PROXYD_ATTR_TABLE, ATTR_TYPE_STR, REQ_FIELD(table), 0, true},
    {PROXYD_ATTR_KEY, ATTR_TYPE_STR, REQ_FIELD(key), 0, true},
};

static const struct attr_spec proxyd_auth_spec[] = {
    {ATTR_REQUEST, ATTR_TYPE_STR, REQ_FIELD(request), 0, true},
    {PROXYD_ATTR_USER, ATTR_TYPE_STR, REQ_FIELD(user), 0, true},
    {PROXYD_ATTR_PASSWORD, ATTR_TYPE_STR, REQ_FIELD(password), 0, true},
};

static const struct attr_spec proxyd_quota_spec[] = {
    {ATTR_REQUEST, ATTR_TYPE_STR, REQ_FIELD(request), 0, true},
    {PROXYD_ATTR_USER, ATTR_TYPE_STR, REQ_FIELD(user), 0, true},
    {PROXYD_ATTR_BYTES, ATTR_TYPE_INT, REQ_FIELD(bytes), 0, true},
    {PROXYD_ATTR_MESSAGES, ATTR_TYPE_INT, REQ_FIELD(messages), 0, true},
};

/* The requests, indexed by enum proxyd_kind. */
static const struct {
	const char *verb;
	const struct attr_spec *spec;
	size_t nspec;
} proxyd_requests[] = {
    [PROXYD_KIND_LOOKUP] = {PROXYD_REQ_LOOKUP, proxyd_lookup_spec,
			    ARRAY_LEN(proxyd_lookup_spec)},
    [PROXYD_KIND_AUTH] = {PROXYD_REQ_AUTH, proxyd_auth_spec,
			  ARRAY_LEN(proxyd_auth_spec)},
    [PROXYD_KIND_QUOTA] = {PROXYD_REQ_QUOTA, proxyd_quota_spec,
			   ARRAY_LEN(proxyd_quota_spec)},
};

const struct attr_spec proxyd_reply_spec[] = {
    {ATTR_STATUS, ATTR_TYPE_STR, REP_FIELD(status), 0, true},
    {PROXYD_ATTR_VALUE, ATTR_TYPE_DATA, REP_FIELD(value), REP_FIELD(value_len),
     false},
    {ATTR_REASON, ATTR_TYPE_STR, REP_FIELD(reason), 0, false},
};
const size_t proxyd_reply_spec_count = ARRAY_LEN(proxyd_reply_spec);

/* proxyd_request_encode - append req (of req->kind) to out */
void proxyd_request_encode(struct strbuf *out, const struct proxyd_request *req)
{
	const struct attr_spec *sp = proxyd_requests[req->kind].spec;
	const struct attr_spec *end = sp + proxyd_requests[req->kind].nspec;
	const char *field;

	for (; sp < end; sp++) {
		field = (const char *)req + sp->offset;
		if (sp->offset == REQ_FIELD(request))
			attr_put_str(out, sp->name,
				     proxyd_requests[req->kind].verb);
		else if (sp->type == ATTR_TYPE_INT)
			attr_put_int(out, sp->name,
				     *(const long long *)(const void *)field);
		else
			attr_put_str(out, sp->name,
				     *(const char *const *)(const void *)field);
	}
	attr_put_end(out);
}

/* proxyd_too_long - is s (if any) longer than max bytes */
static bool proxyd_too_long(const char *s, size_t max)
{
	return s != NULL && strnlen(s, max + 1) > max;
}

/* proxyd_request_limit - which string of req is over its limit, or NULL */
static const char *proxyd_request_limit(const struct proxyd_request *req)
{
	if (proxyd_too_long(req->table, PROXYD_TABLE_MAX))
		return "table name too long";
	if (proxyd_too_long(req->key, PROXYD_KEY_MAX))
		return "key too long";
	if (proxyd_too_long(req->user, PROXYD_KEY_MAX))
		return "user name too long";
	if (proxyd_too_long(req->password, PROXYD_PASSWORD_MAX))
		return "password too long";
	return NULL;
}

/* proxyd_request_decode - a request from a decoded message */
int proxyd_request_decode(const struct attr_msg *msg,
			  struct proxyd_request *req, const char **error_r)
{
	const char *verb = attr_get_str(msg, ATTR_REQUEST);
	size_t k = 0;

	memset(req, 0, sizeof(*req));
	if (verb == NULL) {
		*error_r = "no request attribute";
		return -1;
	}
	while (k < ARRAY_LEN(proxyd_requests) &&
	       strcmp(proxyd_requests[k].verb, verb) != 0)
		k++;
	if (k == ARRAY_LEN(proxyd_requests)) {
		*error_r = "unknown request";
		return -1;
	}
	if (attr_scan(msg, proxyd_requests[k].spec, proxyd_requests[k].nspec,
		      req, error_r) < 0 ||
	    (*error_r = proxyd_request_limit(req)) != NULL) {
		memset(req, 0, sizeof(*req));
		return -1;
	}
	req->kind = (enum proxyd_kind)k;
	return 0;
}

static const char *const proxyd_status_names[] = {
    [LOOKUP_OK] = "ok",     [LOOKUP_NOKEY] = "nokey", [LOOKUP_RETRY] = "retry",
    [LOOKUP_DENY] = "deny", [LOOKUP_BAD] = "bad",
};

/* proxyd_status_name - the wire word of a LOOKUP_* code */
const char *proxyd_status_name(int status)
{
	if (status < 0 || (size_t)status >= ARRAY_LEN(proxyd_status_names))
		return "retry";
	return proxyd_status_names[status];
}

/* proxyd_status_parse - the LOOKUP_* code of a wire word, or -1 */
int proxyd_status_parse(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(proxyd_status_names); i++) {
		if (strcmp(proxyd_status_names[i], name) == 0)
			return (int)i;
	}
	return -1;
}
