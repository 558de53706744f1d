/*
 * NAME
 *	fuzz_proxyd_request - libFuzzer target for proxyd's request parser
 * SYNOPSIS
 *	build/fuzz/fuzz_proxyd_request [libFuzzer options] [corpus...]
 * DESCRIPTION
 *	The input is what a client sends on private/proxyd: messages are
 *	decoded one after the other as proxyd does (attr_decode, at most
 *	PROXYD_REQUEST_MAX bytes each) and each goes through
 *	proxyd_request_decode(). A refused request must come with a reason
 *	and leave nothing behind. An accepted one must keep its promises:
 *	the verb matches the kind, exactly the kind's fields are set, each
 *	string is the whole attribute value (no inner NUL) within its
 *	limit, and encoding it again decodes to the same request. Then
 *	the key or user goes where proxyd sends it: lowercased and
 *	expanded into query parameters (%s %u %d %b, with a delimiter),
 *	none longer than the key.
 * DIAGNOSTICS
 *	A crash, a sanitizer report, a leak or a broken promise (abort).
 * SEE ALSO
 *	lib/proto_proxyd.c, daemons/proxyd/proxyd_serve.c, docs/testing.md
 */
#include "sys_defs.h"

#include "attr.h"
#include "log.h"
#include "proto_proxyd.h"
#include "strbuf.h"
#include "xalloc.h"

#include "../../daemons/proxyd/proxyd.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct proxyd_query query;

/* LLVMFuzzerInitialize - quiet logging, one query with every part */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *err = NULL;

	(void)argc;
	(void)argv;
	log_init("postern", "fuzz_proxyd_request");
	log_set_syslog(false);
	log_set_stderr(true);
	if (proxyd_template_compile(&query,
				    "SELECT 1 WHERE a = %s AND b = %u AND "
				    "c = %d AND d = %b",
				    false, &err) < 0)
		log_panic("template: %s", err);
	return 0;
}

/* check_str - s is the whole value of attribute name, within max */
static void check_str(const struct attr_msg *msg, const char *name,
		      const char *s, size_t max)
{
	const struct attr *a = attr_find(msg, name);

	if (s == NULL || a == NULL || s != a->value || strlen(s) != a->len ||
	    a->len > max)
		log_panic("%s: not the whole value or over %zu", name, max);
}

/* same_str - both NULL or both equal */
static bool same_str(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

/* check_roundtrip - encoding req again decodes to the same request */
static void check_roundtrip(const struct proxyd_request *req)
{
	struct attr_msg *msg = attr_msg_alloc();
	struct strbuf *buf = strbuf_alloc(256);
	struct proxyd_request again;
	const char *err = NULL;
	size_t used = 0;

	proxyd_request_encode(buf, req);
	if (attr_decode(buf->data, buf->len, msg, &used, &err) != 1 ||
	    used != buf->len || proxyd_request_decode(msg, &again, &err) < 0)
		log_panic("re-encoded request refused: %s", err ? err : "?");
	if (again.kind != req->kind || !same_str(again.request, req->request) ||
	    !same_str(again.table, req->table) ||
	    !same_str(again.key, req->key) ||
	    !same_str(again.user, req->user) ||
	    !same_str(again.password, req->password) ||
	    again.bytes != req->bytes || again.messages != req->messages)
		log_panic("re-encoded request differs");
	strbuf_free(&buf);
	attr_msg_free(&msg);
}

/* check_expand - the key as proxyd uses it: lowercased, expanded */
static void check_expand(const char *key)
{
	char *params[PROXYD_PARAMS_MAX] = {NULL};
	char *lower = xstrdup(key);
	size_t len = strlen(key);
	int i;

	proxyd_lowercase(lower);
	if (strlen(lower) != len)
		log_panic("lowercasing changed the length");
	if (proxyd_expand(&query, lower, "+-", 0, 0, params)) {
		for (i = 0; i < query.nparams; i++)
			if (params[i] == NULL || strlen(params[i]) > len)
				log_panic("parameter %d longer than the key",
					  i);
	}
	for (i = 0; i < PROXYD_PARAMS_MAX; i++)
		free(params[i]);
	free(lower);
}

/* check_request - one decoded message */
static void check_request(const struct attr_msg *msg)
{
	static const char *const verbs[] = {
	    [PROXYD_KIND_LOOKUP] = PROXYD_REQ_LOOKUP,
	    [PROXYD_KIND_AUTH] = PROXYD_REQ_AUTH,
	    [PROXYD_KIND_QUOTA] = PROXYD_REQ_QUOTA,
	};
	struct proxyd_request req;
	const char *err = NULL;

	if (proxyd_request_decode(msg, &req, &err) < 0) {
		if (err == NULL || req.request != NULL || req.table != NULL ||
		    req.key != NULL || req.user != NULL ||
		    req.password != NULL || req.bytes != 0 || req.messages != 0)
			log_panic("refused without a reason or with leftovers");
		return;
	}
	if ((size_t)req.kind >= ARRAY_LEN(verbs) ||
	    strcmp(req.request, verbs[req.kind]) != 0)
		log_panic("kind and verb disagree");
	check_str(msg, ATTR_REQUEST, req.request, 16);
	switch (req.kind) {
	case PROXYD_KIND_LOOKUP:
		check_str(msg, PROXYD_ATTR_TABLE, req.table, PROXYD_TABLE_MAX);
		check_str(msg, PROXYD_ATTR_KEY, req.key, PROXYD_KEY_MAX);
		if (req.user != NULL || req.password != NULL || req.bytes ||
		    req.messages)
			log_panic("lookup with other fields");
		check_expand(req.key);
		break;
	case PROXYD_KIND_AUTH:
		check_str(msg, PROXYD_ATTR_USER, req.user, PROXYD_KEY_MAX);
		check_str(msg, PROXYD_ATTR_PASSWORD, req.password,
			  PROXYD_PASSWORD_MAX);
		if (req.table != NULL || req.key != NULL || req.bytes ||
		    req.messages)
			log_panic("auth with other fields");
		check_expand(req.user);
		break;
	case PROXYD_KIND_QUOTA:
		check_str(msg, PROXYD_ATTR_USER, req.user, PROXYD_KEY_MAX);
		if (req.table != NULL || req.key != NULL ||
		    req.password != NULL)
			log_panic("quota_update with other fields");
		check_expand(req.user);
		break;
	}
	check_roundtrip(&req);
}

/* LLVMFuzzerTestOneInput - what one client sends */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct attr_msg *msg = attr_msg_alloc();
	const char *buf = (const char *)data;
	const char *err = NULL;
	size_t used = 0;

	while (size > 0 && attr_decode(buf, size, msg, &used, &err) == 1 &&
	       used <= PROXYD_REQUEST_MAX) {
		if (used == 0 || used > size)
			log_panic("attr_decode used %zu of %zu", used, size);
		check_request(msg);
		attr_msg_clear(msg);
		buf += used;
		size -= used;
	}
	attr_msg_free(&msg);
	return 0;
}
