/*
 * NAME
 *	proto_proxyd - the proxyd request and reply specs
 * SYNOPSIS
 *	see proto_proxyd.h
 * DESCRIPTION
 *	Each message of the proxyd protocol is described once here, as an
 *	attr_spec table that both proxyd and lookup_clnt hand to
 *	attr_scan(), plus the mapping between the LOOKUP_* codes and the
 *	status words on the wire.
 * DIAGNOSTICS
 *	proxyd_status_parse() returns -1 for an unknown word.
 * SEE ALSO
 *	docs/proxyd.md, docs/ipc.md, lookup_clnt.h
 */
#include "sys_defs.h"

#include "lookup_clnt.h"
#include "proto_proxyd.h"

#define REQ_FIELD(f) offsetof(struct proxyd_request, f)
#define REP_FIELD(f) offsetof(struct proxyd_reply, f)

const struct attr_spec proxyd_lookup_spec[] = {
    {ATTR_REQUEST, ATTR_TYPE_STR, REQ_FIELD(request), 0, true},
    {PROXYD_ATTR_TABLE, ATTR_TYPE_STR, REQ_FIELD(table), 0, true},
    {PROXYD_ATTR_KEY, ATTR_TYPE_STR, REQ_FIELD(key), 0, true},
};
const size_t proxyd_lookup_spec_count = ARRAY_LEN(proxyd_lookup_spec);

const struct attr_spec proxyd_auth_spec[] = {
    {ATTR_REQUEST, ATTR_TYPE_STR, REQ_FIELD(request), 0, true},
    {PROXYD_ATTR_USER, ATTR_TYPE_STR, REQ_FIELD(user), 0, true},
    {PROXYD_ATTR_PASSWORD, ATTR_TYPE_STR, REQ_FIELD(password), 0, true},
};
const size_t proxyd_auth_spec_count = ARRAY_LEN(proxyd_auth_spec);

const struct attr_spec proxyd_quota_spec[] = {
    {ATTR_REQUEST, ATTR_TYPE_STR, REQ_FIELD(request), 0, true},
    {PROXYD_ATTR_USER, ATTR_TYPE_STR, REQ_FIELD(user), 0, true},
    {PROXYD_ATTR_BYTES, ATTR_TYPE_INT, REQ_FIELD(bytes), 0, true},
    {PROXYD_ATTR_MESSAGES, ATTR_TYPE_INT, REQ_FIELD(messages), 0, true},
};
const size_t proxyd_quota_spec_count = ARRAY_LEN(proxyd_quota_spec);

const struct attr_spec proxyd_reply_spec[] = {
    {ATTR_STATUS, ATTR_TYPE_STR, REP_FIELD(status), 0, true},
    {PROXYD_ATTR_VALUE, ATTR_TYPE_DATA, REP_FIELD(value), REP_FIELD(value_len),
     false},
    {ATTR_REASON, ATTR_TYPE_STR, REP_FIELD(reason), 0, false},
};
const size_t proxyd_reply_spec_count = ARRAY_LEN(proxyd_reply_spec);

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
